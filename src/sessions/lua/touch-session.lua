-- touch-session.lua: the sliding window. Runs on every authenticated request.
--
-- KEYS[1]  the session hash, <prefix>sess:<jti>
-- ARGV[1]  user_id the (verified) token claims
-- ARGV[2]  sliding TTL, milliseconds
-- Returns  the TTL now set, in milliseconds, or false when there is no live session.
--
-- The race it closes: HSET recreates a deleted key. A request that read the session just before
-- a logout's DEL and wrote last_seen_at just after would bring the session back to life (the
-- connect-redis / express-session bug). Here the existence check and the writes are one atomic
-- step, so a deleted session stays deleted.
local fields = redis.call('HMGET', KEYS[1], 'user_id', 'max_expires_at')
local user_id, max_expires_at = fields[1], tonumber(fields[2])
if not user_id or user_id ~= ARGV[1] or not max_expires_at then
  return false
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local left = max_expires_at - now
if left <= 0 then
  -- Past its absolute lifetime: end it now rather than wait for the TTL.
  redis.call('DEL', KEYS[1])
  return false
end

-- The window never reaches past max_expires_at; PEXPIRE (not GT) so a lowered TTL applies too.
local ttl = math.min(tonumber(ARGV[2]), left)
redis.call('HSET', KEYS[1], 'last_seen_at', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
return ttl
