-- list-sessions.lua: a user's live sessions, read in one consistent step.
--
-- KEYS[1]    the user's index, <prefix>user:{<user_id>}:sessions
-- KEYS[1+n]  the hash of ARGV[2+n], for n = 1, 2...: the sessions the caller knows of
-- ARGV[1]    user_id
-- ARGV[2]    the sliding TTL in force, milliseconds
-- ARGV[2+n]  the id of the n-th declared session
-- Returns  {'ok', ...}: then 8 entries per session: id, client, user_agent, ip, created_at,
--          last_seen_at, expires_at, max_expires_at (times in Unix ms), or
--          {'members', id...} if the index holds a session not declared in KEYS: call again
--          declaring these (the index's members now).
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

local declared = {}
for i = 3, #ARGV do declared[ARGV[i]] = i - 2 end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(members) do
  if not declared[id] then
    local reply = {'members'}
    for _, member in ipairs(members) do reply[#reply + 1] = member end
    return reply
  end
end

local out = {'ok'}
for _, id in ipairs(members) do
  local key = KEYS[1 + declared[id]]
  local f = redis.call('HMGET', key, 'user_id', 'client', 'user_agent', 'ip', 'created_at', 'last_seen_at', 'max_expires_at')
  local pttl = redis.call('PTTL', key)
  local last_seen = tonumber(f[6]) or now
  if f[1] == ARGV[1] and pttl > 0 then
    if now - last_seen <= ttl then
      local n = #out
      out[n + 1] = id
      out[n + 2] = f[2] or ''
      out[n + 3] = f[3] or ''
      out[n + 4] = f[4] or ''
      out[n + 5] = f[5]
      out[n + 6] = f[6]
      out[n + 7] = string.format('%.0f', math.min(now + pttl, last_seen + ttl))
      out[n + 8] = f[7]
    end
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
