-- revoke-all-sessions.lua: ends every session of a user, or every one but the caller's own
-- (logout everywhere, password change, role change, an admin's force-logout, account deletion),
-- in O(1) whatever their number: it raises the user's generation, and every session of a lower
-- generation is refused from this instant (session-state.lua). The caller then deletes their keys
-- in batches (end-revoked-sessions.lua), so readers of the contract see them gone soon after.
--
-- KEYS[1]  the user's generation,  <prefix>user:{<user_id>}:generation
-- KEYS[2]  the user's index,       <prefix>user:{<user_id>}:sessions
-- KEYS[3]  the hash of the session to keep, <prefix>sess:{<user_id>}:<ARGV[2]> (declared even
--          when ARGV[2] is '': it is then never read)
-- ARGV[1]  user_id
-- ARGV[2]  the id of a session to keep, or '' to end them all
-- ARGV[3]  the sliding TTL in force, ms (a session to keep must be live to be kept)
-- ARGV[4]  the least time the generation is kept, ms: longer than any login takes
-- Returns  the new generation (Redis time in µs, as a string).
--
-- Races it closes:
-- * A login that read the old generation before checking the password (create-session.lua
--   refuses to store its session: it checks again), so no session authorised by an old password
--   or role slips through.
-- * A session used, listed or kept concurrently: one atomic step decides which sessions are cut
--   off, and a cut-off session is never extended again (touch-session.lua).
-- * Keeping a session that was already ended: only a live one is kept, so a revoke-all can never
--   bring back a session an earlier one ended.
--- @include "session-state"

local t = redis.call('TIME')
-- µs since the epoch (about 1.8e15) is exact in a Lua number (53 bits). Strictly increasing,
-- even for two revocations within one µs.
local generation = math.max(tonumber(t[1]) * 1000000 + tonumber(t[2]), cutoff_of(KEYS[1]) + 1)
local generation_s = string.format('%.0f', generation)

if ARGV[2] ~= '' then
  local now = math.floor(generation / 1000)
  if not session_state(read_session(KEYS[3], {}), ARGV[1], now, tonumber(ARGV[3]), cutoff_of(KEYS[1])) then
    redis.call('HSET', KEYS[3], 'generation', generation_s)
  end
end

-- The generation must outlive every session it cut off: those can no longer be extended, so the
-- last of them expires by the time the index (which lives as long as its longest-lived session)
-- does. And at least ARGV[4], for logins in flight.
local keep_ms = math.max(tonumber(ARGV[4]), redis.call('PTTL', KEYS[2]))
redis.call('SET', KEYS[1], generation_s, 'PX', keep_ms)
return generation_s
