-- revoke-user-sessions.lua: ends every session of a user, or every one but the caller's own
-- (logout everywhere, password change, role change, an admin's force-logout).
--
-- KEYS[1]  the user's index,       <prefix>user:<user_id>:sessions
-- KEYS[2]  the user's generation,  <prefix>user:<user_id>:generation
-- ARGV[1]  session key prefix (<prefix>sess:)
-- ARGV[2]  user_id: only sessions of this user are ended
-- ARGV[3]  the id of a session to keep, or '' to end them all
-- ARGV[4]  how long the generation is kept, ms
-- ARGV[5]  owner key prefix (<prefix>owner:)
-- Returns  the ids of the sessions ended.
--
-- Races it closes: logins are indexed atomically, so every session that exists when this runs is
-- in the index and ends here. A login that checked the password before this ran and stores its
-- session after it sees the new generation and is refused (create-session.lua), so it cannot
-- slip a session past a password or role change.
local ended = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[3] then
    local key = ARGV[1] .. id
    if redis.call('HGET', key, 'user_id') == ARGV[2] and redis.call('DEL', key) == 1 then
      redis.call('DEL', ARGV[5] .. id)
      ended[#ended + 1] = id
    end
    redis.call('ZREM', KEYS[1], id)
  end
end

-- A new, never-repeating generation (Redis clock, microseconds). It only has to outlive a login
-- in flight; when it expires, a login that read it is refused and simply checks again.
local t = redis.call('TIME')
redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])), 'PX', ARGV[4])
return ended
