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

-- Pages go on from a cursor's (score, id) by rank, even when its entry has moved or gone since: the
-- entry is put back at the cursor's score just long enough to read its rank (call
-- restore_cursor once the page is read: restoring it first would shift every rank below), all in
-- one script, so nobody else ever sees it there. Returns its rank and its real score (or false).
local function place_cursor(key, score, id)
  local real = redis.call('ZSCORE', key, id)
  redis.call('ZADD', key, score, id)
  return redis.call('ZREVRANK', key, id), real
end

local function restore_cursor(key, id, real)
  if real then
    redis.call('ZADD', key, real, id)
  else
    redis.call('ZREM', key, id)
  end
end
