-- created-gaps-2.lua: sessions the user's index holds but the creation index lacks, a bounded stretch
-- of the index at a time. Sessions written by a release before the creation index (or by one still
-- running during a rolling update) are only in the index; the store passes the ids this finds to
-- list-sessions-n.lua, which adds them from their hashes (store.ts, `list`).
--
-- KEYS[1]  the user's index,          <prefix>user:{<user_id>}:sessions
-- KEYS[2]  the user's creation index, <prefix>user:{<user_id>}:created
-- ARGV[1]  the rank to start at, most recently used first (0 for the first call)
-- ARGV[2]  how many entries of the index to read at most (the caller bounds it)
-- ARGV[3]  how many ids to return at most
-- Returns  {next, id...}: `next` is the rank to start the next call at, or -1 when the index ended
--          within this one. O(log n + ARGV[2]), whatever the number of sessions.
--
-- Ranks shift while logins add and prunes remove entries between two calls, so a walk may skip or
-- repeat a few entries: harmless, as the listing walks again while the counts of the two indexes
-- still differ, and list-sessions-n.lua adds an entry only once (ZADD NX).

local start, most, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ids = redis.call('ZRANGE', KEYS[1], start, start + most - 1, 'REV')
if #ids == 0 then return {-1} end
local scores = redis.call('ZMSCORE', KEYS[2], unpack(ids))
local out = {#ids < most and -1 or start + #ids}
for n, id in ipairs(ids) do
  if not scores[n] then
    out[#out + 1] = id
    if #out - 1 == want then
      out[1] = start + n
      break
    end
  end
end
return out
