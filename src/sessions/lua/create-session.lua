-- create-session.lua: store a new session hash with its sliding TTL, on Redis' clock.
--
-- KEYS[1]  the session hash, <prefix>sess:<jti>
-- ARGV[1]  user_id
-- ARGV[2]  sliding TTL, milliseconds
-- ARGV[3]  absolute lifetime, milliseconds
-- ARGV[4]  layout version (`v`, docs/session-contract.md)
-- Returns  {created_at, max_expires_at} in Unix ms, or false if the id is already taken.
--
-- Why a script: every timestamp comes from one clock (Redis TIME) shared by all instances, and
-- the hash never exists without its TTL. max_expires_at is rounded down to a whole second so it
-- equals the token's `exp` * 1000 exactly.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max_expires_at = math.floor((now + tonumber(ARGV[3])) / 1000) * 1000
local ttl = math.min(tonumber(ARGV[2]), max_expires_at - now)

-- %.0f: plain digits (a Lua number would otherwise be sent as 1.7e+12).
local now_s = string.format('%.0f', now)
local max_s = string.format('%.0f', max_expires_at)
redis.call('HSET', KEYS[1],
  'v', ARGV[4],
  'user_id', ARGV[1],
  'created_at', now_s,
  'last_seen_at', now_s,
  'max_expires_at', max_s)
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
return {now_s, max_s}
