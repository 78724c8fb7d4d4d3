-- upgrade-session.lua: brings a layout-1 session (written before roles and devices existed) to
-- the current layout at its first request after an upgrade, so an upgrade logs no one out.
--
-- KEYS[1]  the session hash, <prefix>sess:<id>
-- ARGV[1]  user_id the (verified) token claims
-- ARGV[2]  the user's role, read from Postgres
-- ARGV[3]  layout version to write
-- Returns  1 if upgraded, 0 if the session is gone (or not this user's, or already upgraded).
--
-- Checked and written in one step: a session deleted meanwhile is not recreated.
local fields = redis.call('HMGET', KEYS[1], 'user_id', 'v')
if fields[1] ~= ARGV[1] or fields[2] ~= '1' then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'role', ARGV[2], 'client', '', 'user_agent', '', 'ip', '')
return 1
