-- user-index.lua (included): the upkeep of a user's index, <prefix>user:{<user_id>}:sessions, a
-- sorted set of session ids scored by each session's expiry (Unix ms).

-- Drops index entries whose session ran out its TTL (the score is each session's expiry: they are
-- the lowest ranks), at most `most` of them, from the index and from the creation index
-- (<prefix>user:{<user_id>}:created, the device list's order): the work is bounded however many
-- there are. Every login adds one entry and drops up to `most`, so stale entries cannot pile up.
local function prune_expired(index_key, created_key, now, most)
  local stale = redis.call('ZRANGE', index_key, '-inf', '(' .. string.format('%.0f', now), 'BYSCORE', 'LIMIT', 0, most)
  if #stale > 0 then
    redis.call('ZREM', index_key, unpack(stale))
    redis.call('ZREM', created_key, unpack(stale))
  end
end

-- The index lives exactly as long as its longest-lived session: call after every ZADD to it.
local function expire_with_last_session(index_key)
  local last = redis.call('ZRANGE', index_key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', index_key, last[2])
end

-- The creation index lives as long as the latest absolute end of its sessions (a session never
-- outlives its max_expires_at): call after every ZADD to it.
local function expire_with_latest_end(created_key, max_expires_at)
  if redis.call('PEXPIRETIME', created_key) < max_expires_at then
    redis.call('PEXPIREAT', created_key, string.format('%.0f', max_expires_at))
  end
end
