-- created-page-2.lua: one page of a user's device list, newest session first, by the creation index.
-- A session's place in it never changes, so a session used, or a login made, between two page
-- requests neither moves an entry nor shifts a later page.
--
-- KEYS[1]  the user's creation index, <prefix>user:{<user_id>}:created (score: created_at, Unix ms)
-- KEYS[2]  the user's index,          <prefix>user:{<user_id>}:sessions (score: expiry, Unix ms)
-- ARGV[1]  limit: most entries to return, 0 to 101 (the caller bounds it: a page and one more)
-- ARGV[2]  the cursor's created_at, as the previous page returned it, or '' for the first page
-- ARGV[3]  the cursor's session id, or ''
-- ARGV[4]  a session id to leave out wherever it falls (the caller's own, which the caller shows
--          first), or ''
-- Returns  {missing, more, resume_score, resume_id, id, created_at, id, created_at...}:
--            missing  ZCARD of the index minus ZCARD of the creation index: above 0 when the index
--                     holds sessions the creation index lacks (written by a release before it;
--                     list-sessions-n.lua adds them as it reads them)
--            more     1 when a live entry may follow the page, 0 when none does
--            resume_score, resume_id  the last entry this page went past (shown, left out or
--                     dead): the next page goes on right after it; '' '' when it went past none
--          then at most `limit` entries, newest first (ties: the higher id first).
--
-- Liveness here is the index's: an entry counts when the index holds its session with an expiry
-- still ahead (every script sets the key's expiry and that score together). Those the index does
-- not hold, or holds expired, are dead: dropped from the creation index (and the index) as the
-- page passes them. It reads one live entry beyond the page to say whether another page follows,
-- so a page that ends the list says so (more = 0), and goes on past dead entries to find it, in
-- windows of 2 * limit + 10, but past at most MAX_READ entries in all: O(log n + MAX_READ) whatever
-- the number of sessions. Only after a run of that many dead entries (which this call then drops)
-- is more = 1 without a live entry seen beyond the page: the page may then be short, even empty,
-- and the next one goes on after the run. What only the session's hash shows (revoked by a
-- revoke-all whose sweep has not reached it yet or by ops' ending of its client, idle past a
-- shortened window) is checked by list-sessions-n.lua, after this: the caller reads one entry more
-- than it shows and reads on past such sessions (src/sessions/device-list.ts).
--
-- Pages follow on from the cursor's (created_at, id) by rank, as session-page-2.lua does: the entry
-- is put at the cursor's score just long enough to read its rank, then restored (or removed, if it
-- was not there), atomically, so nobody else sees it. Creation scores never change, so the cursor's
-- own entry, ended meanwhile or not, ranks where it did.
--- @include "clock"
--- @include "user-index"

-- Most entries past the cursor one call reads (live or dead): its bound, whatever the limit.
local MAX_READ = 1000
local limit = tonumber(ARGV[1])
local skip = ARGV[4]
local now = now_ms()
-- As every listing does: entries of sessions that ran out, from both indexes, at most `limit + 1`.
prune_expired(KEYS[2], KEYS[1], now, limit + 1)
local missing = redis.call('ZCARD', KEYS[2]) - redis.call('ZCARD', KEYS[1])

-- The rank the page starts at: 0, or right after the cursor's (created_at, id). The entry is put
-- at the cursor's score while the page is read, then restored (or removed, if it was not there).
local start, cursor_score = 0, nil
if ARGV[2] ~= '' then
  local rank
  rank, cursor_score = place_cursor(KEYS[1], ARGV[2], ARGV[3])
  start = rank + 1
end

local page, dead = {}, {}
local resume_score, resume_id = '', ''
local step = 2 * limit + 10
local more, read = nil, 0
while more == nil do
  local entries = redis.call('ZRANGE', KEYS[1], start + read, start + read + step - 1, 'REV', 'WITHSCORES')
  local ids = {}
  for i = 1, #entries, 2 do ids[#ids + 1] = entries[i] end
  local expiries = #ids > 0 and redis.call('ZMSCORE', KEYS[2], unpack(ids)) or {}
  for n, id in ipairs(ids) do
    local expiry = tonumber(expiries[n])
    local alive = expiry ~= nil and expiry >= now
    if alive and id ~= skip and #page == 2 * limit then
      -- A live entry beyond the page: another page follows, from right before it.
      more = 1
      break
    end
    if not alive then
      dead[#dead + 1] = id
    elseif id ~= skip then
      page[#page + 1] = id
      page[#page + 1] = entries[2 * n]
    end
    resume_score, resume_id = entries[2 * n], id
  end
  read = read + #ids
  if more == nil then
    -- A short window reached the end of the index; past MAX_READ, the next page goes on from here.
    if #ids < step then more = 0 elseif read >= MAX_READ then more = 1 end
  end
end

if ARGV[2] ~= '' then restore_cursor(KEYS[1], ARGV[3], cursor_score) end
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('ZREM', KEYS[2], unpack(dead))
end

local out = {missing, more, resume_score, resume_id}
for _, v in ipairs(page) do out[#out + 1] = v end
return out
