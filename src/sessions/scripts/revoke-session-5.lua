-- revoke-session-5.lua: ends one session of one user (logout, or revoking a listed device).
--
-- KEYS[1]  the session hash,   <prefix>sess:{<user_id>}:<id>
-- KEYS[2]  the user's index,   <prefix>user:{<user_id>}:sessions
-- KEYS[3]  the session owner,  <prefix>owner:{<user_id>}:<id>
-- KEYS[4]  how it ended,       <prefix>ended:{<user_id>}:<id>
-- KEYS[5]  the user's creation index, <prefix>user:{<user_id>}:created
-- ARGV[1]  session id
-- ARGV[2]  user_id: only a session of this user is ended
-- ARGV[3]  how it ended, for its app's next request (`logged_out`, or a cause: src/sessions/endings.ts)
-- Returns  {1, client} if the session was ended (client: its hash's `client` field, '' if none,
--          for the `revoked` event), 0 if there was no such session of this user.
--
-- Hash, owner and index entries go together, so nothing is left behind; the owner check makes
-- "not yours" and "does not exist" the same answer. The ending is kept only as long as the
-- session's window had left (its key's PTTL): no longer than its token could have been used.
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
local owner = redis.call('HMGET', KEYS[1], 'user_id', 'client')
if owner[1] ~= ARGV[2] then
  return 0
end
local left = redis.call('PTTL', KEYS[1])
if left > 0 then redis.call('SET', KEYS[4], ARGV[3], 'PX', left) end
redis.call('DEL', KEYS[3])
return {redis.call('DEL', KEYS[1]), owner[2] or ''}
