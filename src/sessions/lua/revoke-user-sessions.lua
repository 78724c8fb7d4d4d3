-- revoke-user-sessions.lua: ends every session of a user, or every one but the caller's own
-- (logout everywhere, password change, role change, an admin's force-logout). Called twice:
--
-- 'start': KEYS[1] the user's index, <prefix>user:{<user_id>}:generation's KEYS[2]; no session
--          keys. Changes the generation, then answers {'members', id...}: every session the user
--          has at this instant.
-- 'end':   the same two keys, then KEYS[1+2n], KEYS[2+2n], the hash and owner key of ARGV[4+n]
--          for n = 1, 2...: the ids 'start' answered. Ends those; returns {'ok', id...}, the ids
--          of the sessions it ended.
--
-- KEYS[1]  the user's index,       <prefix>user:{<user_id>}:sessions
-- KEYS[2]  the user's generation,  <prefix>user:{<user_id>}:generation
-- ARGV[1]  user_id: only sessions of this user are ended
-- ARGV[2]  the id of a session to keep, or '' to end them all
-- ARGV[3]  how long the generation is kept, ms
-- ARGV[4]  'start' or 'end'
-- ARGV[4+n]  the id of the n-th declared session ('end')
--
-- Redis Cluster: every key is declared and carries the user's hash tag, so all are in one slot.
-- The other sessions' keys are known only from the index, hence the two calls.
--
-- Races it closes: logins are indexed atomically, so every session that exists at 'start' is in
-- its answer and ends at 'end'. A login that read the generation before 'start' is refused when it
-- stores its session (create-session.lua) and checks the password again, so no session authorised
-- by an old password or role slips through. Sessions created between the calls read the new
-- generation, after the change: they are not the revoke's to end, and it leaves them.
if ARGV[4] == 'start' then
  -- A new, never-repeating generation (Redis clock, microseconds). It only has to outlive a login
  -- in flight; when it expires, a login that read it is refused and simply checks again.
  local t = redis.call('TIME')
  redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])), 'PX', ARGV[3])
  local reply = {'members'}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do reply[#reply + 1] = id end
  return reply
end

local result = {'ok'}
for i = 5, #ARGV do
  local id, n = ARGV[i], i - 4
  if id ~= ARGV[2] then
    local key = KEYS[1 + 2 * n]
    if redis.call('HGET', key, 'user_id') == ARGV[1] and redis.call('DEL', key) == 1 then
      redis.call('DEL', KEYS[2 + 2 * n])
      result[#result + 1] = id
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
return result
