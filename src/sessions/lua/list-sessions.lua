-- list-sessions.lua: a user's live sessions, read in one consistent step.
--
-- KEYS[1]    the user's index, <prefix>user:{<user_id>}:sessions
-- KEYS[1+n]  the hash of ARGV[2+n], for n = 1, 2...: the index's members, as the caller just read
--            them (ZRANGE): a Cluster script must declare every key it touches
-- ARGV[1]    user_id
-- ARGV[2]    the sliding TTL in force, milliseconds
-- ARGV[2+n]  the id of the n-th declared session
-- Returns  a flat list, 8 entries per session: id, client, user_agent, ip, created_at,
--          last_seen_at, expires_at, max_expires_at (times in Unix ms). A session created since
--          the caller's read is not in it: the list is as of that read.
--
-- Redis Cluster: every key is declared and carries the user's hash tag, so all are in one slot.
--
-- Prunes what it passes: index entries whose session ran out (score = expiry) or is gone. A
-- session idle for longer than a TTL that was shortened since its last use is left out: its next
-- request ends it (touch-session.lua).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)

local members = {}
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then members[#members + 1] = i - 2 end
end

local out = {}
for _, n in ipairs(members) do
  local id, key = ARGV[2 + n], KEYS[1 + n]
  local f = redis.call('HMGET', key, 'user_id', 'client', 'user_agent', 'ip', 'created_at', 'last_seen_at', 'max_expires_at')
  local pttl = redis.call('PTTL', key)
  local last_seen = tonumber(f[6]) or now
  if f[1] == ARGV[1] and pttl > 0 then
    if now - last_seen <= ttl then
      local m = #out
      out[m + 1] = id
      out[m + 2] = f[2] or ''
      out[m + 3] = f[3] or ''
      out[m + 4] = f[4] or ''
      out[m + 5] = f[5]
      out[m + 6] = f[6]
      out[m + 7] = string.format('%.0f', math.min(now + pttl, last_seen + ttl))
      out[m + 8] = f[7]
    end
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
