-- why-ended-4.lua: why a token's session is not live, for the 401 its app gets (docs/api.md, "Why a
-- session ended"). Read only; run after touch-session-6.lua (or peek) found no live session.
--
-- KEYS[1]  the session hash,       <prefix>sess:{<user_id>}:<jti>
-- KEYS[2]  the user's cutoff,      <prefix>user:{<user_id>}:cutoff
-- KEYS[3]  how it ended,           <prefix>ended:{<user_id>}:<jti> (a single revocation's)
-- KEYS[4]  the last revoke-all,    <prefix>user:{<user_id>}:revoked (at, reason, kept)
-- ARGV[1]  user_id the (verified) token claims
-- ARGV[2]  the policy in force for the token's client, cjson (session-state.lua, window_of)
-- ARGV[3]  the token's audience ('' for none)
-- ARGV[4]  the token's created_at, Unix ms
-- ARGV[5]  the token's exp, as Unix ms
-- ARGV[6]  the token's jti
-- Returns  {reason, cause}: reason 'idle' | 'max_age' | 'logged_out' | 'revoked'; cause '' or the
--          value stored (the caller keeps only the causes it knows).
--
-- Nothing is written: an ending is remembered only where it was already written, one key per
-- single revocation (for what was left of its window) and one record per user for a revoke-all.
-- When neither speaks for it, a missing session ended by its clock: its absolute end if that has
-- passed, else its idle window (also what a session lost with a Redis restart looks like).
--- @include "clock"
--- @include "session-state"

local now = now_ms()
local policy = policy_arg(ARGV[2])
local cutoff_s = redis.call('GET', KEYS[2])
local cutoff = cutoff_of(KEYS[2])

-- The last revoke-all's reason, if that is the revoke-all the cutoff is at (the cutoff raised by
-- hand, as ops.md's emergency revoke does, has no reason).
local function revoke_all_cause()
  local record = redis.call('HMGET', KEYS[4], 'at', 'reason')
  if record[1] and record[1] == cutoff_s then return record[2] or '' end
  return ''
end

if redis.call('EXISTS', KEYS[1]) == 1 then
  local s, pttl = read_session(KEYS[1], {})
  local state, cause = session_state(s, pttl, ARGV[1], {now = now, policy = policy, cutoff = cutoff, token_aud = ARGV[3]})
  if state == 'revoked' then return {'revoked', cause or revoke_all_cause()} end
  if state == 'max-age' then return {'max_age', ''} end
  return {'idle', ''}
end

local ended = redis.call('GET', KEYS[3])
if ended == 'logged_out' then return {'logged_out', ''} end
if ended then return {'revoked', ended} end

-- A cutoff written by hand that is not a number: over, as readers of the contract fail closed.
if cutoff_s and not integer(cutoff_s) then return {'revoked', ''} end
local created = tonumber(ARGV[4]) or 0
-- Created before the last revoke-all (as a generation, µs), and not the session it kept.
if is_below_cutoff(created * 1000, cutoff) and redis.call('HGET', KEYS[4], 'kept') ~= ARGV[6] then
  return {'revoked', revoke_all_cause()}
end
local client = ARGV[3] ~= '' and policy.clients[ARGV[3]] or nil
if client and client.ended_before and created < client.ended_before then return {'revoked', 'client_ended'} end
local finish = tonumber(ARGV[5]) or 0
if client and client.max_age then finish = math.min(finish, created + client.max_age) end
if now >= finish then return {'max_age', ''} end
return {'idle', ''}
