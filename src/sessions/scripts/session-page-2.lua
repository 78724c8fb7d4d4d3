-- session-page-2.lua: one page of a user's index, most recently used first. Reads at most `limit`
-- entries, whatever the number of sessions: O(log n + limit).
--
-- KEYS[1]  the user's index, <prefix>user:{<user_id>}:sessions
-- KEYS[2]  the user's creation index, <prefix>user:{<user_id>}:created (pruned alike)
-- ARGV[1]  limit: most entries to return (the caller bounds it)
-- ARGV[2]  the cursor's score, as the previous page returned it, or '' for the first page
-- ARGV[3]  the cursor's session id (the previous page's last entry), or ''
-- Returns  a flat list: id, score, id, score... (score = the session's expiry, Unix ms), highest
--          score first, leaving out entries whose expiry has passed (and dropping up to `limit` of
--          those from the index). A page shorter than `limit` is the last one.
--
-- Pages follow on from the cursor's (score, id) by rank, so entries that share a score (sessions
-- created or used in the same millisecond, or capped at the same absolute end) are neither skipped
-- nor repeated, even when the cursor's own entry has moved or gone meanwhile. The listing is a walk
-- down the index as it changes, not a snapshot: a session used while it is being paged moves up and
-- may be missed or shown twice.
--- @include "clock"
--- @include "user-index"

local limit = tonumber(ARGV[1])
local now = now_ms()
local now_s = string.format('%.0f', now)
-- Listing prunes what it passes, as far as it is cheap to: entries of sessions that ran out.
prune_expired(KEYS[1], KEYS[2], now, limit)
local page
if ARGV[2] == '' then
  page = redis.call('ZRANGE', KEYS[1], '+inf', now_s, 'BYSCORE', 'REV', 'LIMIT', 0, limit, 'WITHSCORES')
else
  -- The page goes on right after (cursor score, cursor id), where that pair ranks even if the
  -- entry has moved (used again) or gone since (user-index.lua, place_cursor).
  local rank, real = place_cursor(KEYS[1], ARGV[2], ARGV[3])
  page = redis.call('ZRANGE', KEYS[1], rank + 1, rank + limit, 'REV', 'WITHSCORES')
  restore_cursor(KEYS[1], ARGV[3], real)
end

-- A page by rank can reach entries whose session has already run out (the lowest scores).
local out = {}
for i = 1, #page, 2 do
  if tonumber(page[i + 1]) < now then break end
  out[#out + 1] = page[i]
  out[#out + 1] = page[i + 1]
end
return out
