-- revoke-all-sessions-5.lua: ends every session of a user, or every one but the caller's own
-- (logout everywhere, password change, role change, an admin's force-logout, account deletion),
-- in O(1) whatever their number: it raises the user's cutoff to a new generation, and every
-- session of a lower generation is refused from this instant (session-state.lua). The caller then
-- deletes their keys in batches (end-revoked-sessions-n.lua), so readers of the contract see them
-- gone soon after.
--
-- KEYS[1]  the user's cutoff,      <prefix>user:{<user_id>}:cutoff
-- KEYS[2]  the user's generation,  <prefix>user:{<user_id>}:generation (logins in flight read it)
-- KEYS[3]  the user's index,       <prefix>user:{<user_id>}:sessions
-- KEYS[4]  the hash of the session to keep, <prefix>sess:{<user_id>}:<ARGV[2]> (declared even
--          when ARGV[2] is '': it is then never read)
-- KEYS[5]  the last revoke-all,    <prefix>user:{<user_id>}:revoked (why, for the apps of the
--          sessions it ended: a hash of at = the new cutoff, reason, kept)
-- ARGV[1]  user_id
-- ARGV[2]  the id of a session to keep, or '' to end them all
-- ARGV[3]  the policies in force, cjson (session-state.lua; a session to keep must be live to be kept)
-- ARGV[4]  how long the generation key is kept, ms: longer than any login takes
-- ARGV[5]  the absolute lifetime of a session (SESSION_MAX_AGE_SECONDS), ms
-- ARGV[6]  why, as its apps are told (a cause: src/sessions/endings.ts)
-- Returns  the new generation (Redis time in µs, as a string).
--
-- Races it closes:
-- * A login that read the generation before checking the password (create-session-n.lua refuses
--   to store its session: it checks again), so no session authorised by an old password or role
--   slips through. That key is the one the previous release compared too, so a login in flight
--   on an instance of it is refused just the same during an upgrade.
-- * A session used, listed or kept concurrently: one atomic step decides which sessions are cut
--   off, and a cut-off session is never extended again (touch-session-6.lua).
-- * Keeping a session that was already ended: only a live one is kept, so a revoke-all can never
--   bring back a session an earlier one ended.
--- @include "clock"
--- @include "session-state"

-- A cutoff written by hand that is not an integer counts as none here: this revoke-all replaces it.
local cutoff = integer(redis.call('GET', KEYS[1])) or 0
-- Redis time in µs, strictly increasing, even for two revocations within one µs.
local generation = math.max(now_us(), cutoff + 1)
local generation_s = string.format('%.0f', generation)

local kept = ''
if ARGV[2] ~= '' then
  local now = math.floor(generation / 1000)
  local s, pttl = read_session(KEYS[4], {})
  if not session_state(s, pttl, ARGV[1], {now = now, policy = policy_arg(ARGV[3]), cutoff = cutoff}) then
    redis.call('HSET', KEYS[4], 'generation', generation_s)
    kept = ARGV[2]
  end
end

-- The cutoff must outlive every session it ended, or they would count as live again: none can
-- be extended any more, so the last of them ends within a session's absolute lifetime, and by the
-- time the index (which lives as long as its longest-lived session) expires. Both bounds, in case
-- one is off: the index may have been evicted, or the lifetime lowered since.
local keep_for = math.max(tonumber(ARGV[5]), redis.call('PTTL', KEYS[3]))
redis.call('SET', KEYS[1], generation_s, 'PX', keep_for)
-- One record per user, replaced by the next revoke-all: never one per session it ended.
redis.call('DEL', KEYS[5])
redis.call('HSET', KEYS[5], 'at', generation_s, 'reason', ARGV[6], 'kept', kept)
redis.call('PEXPIRE', KEYS[5], keep_for)
redis.call('SET', KEYS[2], generation_s, 'PX', ARGV[4])
return generation_s
