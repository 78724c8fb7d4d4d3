-- peek-session.lua: is this session live? Read only: nothing is extended (introspection).
--
-- KEYS[1]  the session hash, <prefix>sess:{<user_id>}:<id>
-- ARGV[1]  user_id the (verified) token claims
-- ARGV[2]  the sliding TTL in force, milliseconds
-- Returns  {role, created_at, last_seen_at, expires_at, max_expires_at, email, user_created_at}
--          (times in Unix ms; '' for what an older session lacks, as in touch-session.lua), or
--          false when there is no live session. The same rules as touch-session.lua: the owner
--          must match, and a session idle for longer than the TTL in force is not live.
local f = redis.call('HMGET', KEYS[1], 'user_id', 'role', 'created_at', 'last_seen_at', 'max_expires_at', 'email', 'user_created_at')
local pttl = redis.call('PTTL', KEYS[1])
if f[1] ~= ARGV[1] or pttl <= 0 then
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last_seen, max_expires_at = tonumber(f[4]) or now, tonumber(f[5]) or 0
local ttl = tonumber(ARGV[2])
if max_expires_at <= now or now - last_seen > ttl then
  return false
end
return {f[2] or '', f[3], f[4], string.format('%.0f', math.min(now + pttl, last_seen + ttl)), f[5], f[6] or '', f[7] or ''}
