-- revoke-session.lua: ends one session of one user (logout, or revoking a listed device).
--
-- KEYS[1]  the session hash,   <prefix>sess:{<user_id>}:<id>
-- KEYS[2]  the user's index,   <prefix>user:{<user_id>}:sessions
-- KEYS[3]  the session owner,  <prefix>owner:{<user_id>}:<id>
-- ARGV[1]  session id
-- ARGV[2]  user_id: only a session of this user is ended
-- Returns  1 if the session was ended, 0 if there was no such session of this user.
--
-- Hash, owner and index entry go together, so nothing is left behind; the owner check makes
-- "not yours" and "does not exist" the same answer.
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'user_id') ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[3])
return redis.call('DEL', KEYS[1])
