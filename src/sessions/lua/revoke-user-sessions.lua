-- revoke-user-sessions.lua: ends every session of a user, or every one but the caller's own
-- (logout everywhere, password change, role change, an admin's force-logout).
--
-- KEYS[1]  the user's index,       <prefix>user:{<user_id>}:sessions
-- KEYS[2]  the user's generation,  <prefix>user:{<user_id>}:generation
-- KEYS[1+2n], KEYS[2+2n]  the hash and owner key of ARGV[3+n], for n = 1, 2...: the sessions
--          the caller knows of (from an earlier 'members' reply)
-- ARGV[1]  user_id: only sessions of this user are ended
-- ARGV[2]  the id of a session to keep, or '' to end them all
-- ARGV[3]  how long the generation is kept, ms
-- ARGV[3+n]  the id of the n-th declared session
-- Returns  {'ok', id...}: the ids of the sessions ended, or
--          {'members', id...} if the index holds a session not declared in KEYS (the caller had
--          not read the index, or a login got in between): nothing was written; call again
--          declaring these (the index's members now).
--
-- Redis Cluster: every key is declared and carries the user's hash tag, so all are in one slot.
--
-- Races it closes: logins are indexed atomically, so every session that exists when this runs is
-- in the index and ends here. A login that checked the password before this ran and stores its
-- session after it sees the new generation and is refused (create-session.lua), so it cannot
-- slip a session past a password or role change.
local declared = {}
for i = 4, #ARGV do declared[ARGV[i]] = i - 3 end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(members) do
  if not declared[id] then
    local reply = {'members'}
    for _, member in ipairs(members) do reply[#reply + 1] = member end
    return reply
  end
end

local result = {'ok'}
for _, id in ipairs(members) do
  if id ~= ARGV[2] then
    local n = declared[id]
    local key = KEYS[1 + 2 * n]
    if redis.call('HGET', key, 'user_id') == ARGV[1] and redis.call('DEL', key) == 1 then
      redis.call('DEL', KEYS[2 + 2 * n])
      result[#result + 1] = id
    end
    redis.call('ZREM', KEYS[1], id)
  end
end

-- A new, never-repeating generation (Redis clock, microseconds). It only has to outlive a login
-- in flight; when it expires, a login that read it is refused and simply checks again.
local t = redis.call('TIME')
redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])), 'PX', ARGV[3])
return result
