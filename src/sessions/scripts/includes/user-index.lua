-- user-index.lua (included): the upkeep of a user's index, <prefix>user:{<user_id>}:sessions, a
-- sorted set of session ids scored by each session's expiry (Unix ms).

-- Drops index entries whose session ran out its TTL (the score is each session's expiry: they are
-- the lowest ranks), at most `most` of them: the work is bounded however many there are. Every
-- login adds one entry and drops up to `most`, so stale entries cannot pile up.
local function prune_expired(index_key, now, most)
  local stale = redis.call('ZCOUNT', index_key, '-inf', '(' .. string.format('%.0f', now))
  if stale > 0 then
    redis.call('ZREMRANGEBYRANK', index_key, 0, math.min(stale, most) - 1)
  end
end

-- The index lives exactly as long as its longest-lived session: call after every ZADD to it.
local function expire_with_last_session(index_key)
  local last = redis.call('ZRANGE', index_key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', index_key, last[2])
end
