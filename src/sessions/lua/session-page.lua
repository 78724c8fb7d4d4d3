-- session-page.lua: one page of a user's index, most recently used first. Reads at most `limit`
-- entries, whatever the number of sessions: O(log n + limit).
--
-- KEYS[1]  the user's index, <prefix>user:{<user_id>}:sessions
-- ARGV[1]  limit: most entries to return (the caller bounds it)
-- ARGV[2]  the cursor's score, as the previous page returned it, or '' for the first page
-- ARGV[3]  the cursor's session id (the previous page's last entry), or ''
-- Returns  a flat list: id, score, id, score... (score = the session's expiry, Unix ms), highest
--          score first, leaving out entries whose expiry has passed (and dropping up to `limit` of
--          those from the index). A page shorter than `limit` is the last one.
--
-- Pages follow on from the cursor's entry by its rank, so entries that share a score (sessions
-- created or used in the same millisecond) are neither skipped nor repeated. If the cursor's entry
-- has moved (used again: it is now near the top) or gone meanwhile, the page goes on below its old
-- score. The listing is a walk down the index as it changes, not a snapshot.
--- @include "session-state"

local limit = tonumber(ARGV[1])
local now = now_ms()
local now_s = string.format('%.0f', now)
-- Listing prunes what it passes, as far as it is cheap to: entries of sessions that ran out.
prune_expired(KEYS[1], now, limit)
local page
if ARGV[2] == '' then
  page = redis.call('ZRANGE', KEYS[1], '+inf', now_s, 'BYSCORE', 'REV', 'LIMIT', 0, limit, 'WITHSCORES')
elseif redis.call('ZSCORE', KEYS[1], ARGV[3]) == ARGV[2] then
  local rank = redis.call('ZREVRANK', KEYS[1], ARGV[3])
  page = redis.call('ZRANGE', KEYS[1], rank + 1, rank + limit, 'REV', 'WITHSCORES')
else
  page = redis.call('ZRANGE', KEYS[1], '(' .. ARGV[2], now_s, 'BYSCORE', 'REV', 'LIMIT', 0, limit, 'WITHSCORES')
end

-- A page by rank can reach entries whose session has already run out (the lowest scores).
local out = {}
for i = 1, #page, 2 do
  if tonumber(page[i + 1]) < now then break end
  out[#out + 1] = page[i]
  out[#out + 1] = page[i + 1]
end
return out
