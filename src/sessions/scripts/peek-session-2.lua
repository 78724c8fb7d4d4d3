-- peek-session-2.lua: is this session live? Read only: nothing is extended (introspection).
--
-- KEYS[1]  the session hash,       <prefix>sess:{<user_id>}:<id>
-- KEYS[2]  the user's cutoff,      <prefix>user:{<user_id>}:cutoff
-- ARGV[1]  user_id the (verified) token claims
-- ARGV[2]  the policy in force for the token's client, cjson (session-state.lua, window_of)
-- ARGV[3]  '' or Unix ms: the token reaches only a session created before it (session-state.lua)
-- ARGV[4]  the token's audience ('' for an unbound token)
-- Returns  {role, <role>, created_at, <ms>, last_seen_at, <ms>, expires_at, <ms>, max_expires_at, <ms>,
--          email, <email>, user_created_at, <ms>}, by name (times in Unix ms; '' for what an older
--          session lacks, as in touch-session-6.lua; max_expires_at is the end under its policy now), or
--          false when there is no live session: the same rule as touch-session-6.lua
--          (session-state.lua).
--- @include "clock"
--- @include "session-state"

local s, pttl = read_session(KEYS[1], {'role', 'email', 'user_created_at'})
local now = now_ms()
local policy = policy_arg(ARGV[2])
if session_state(s, pttl, ARGV[1], {now = now, policy = policy, cutoff = cutoff_of(KEYS[2]), created_before = tonumber(ARGV[3]), token_aud = ARGV[4]}) then
  return false
end
-- Live: its last use is a number (session-state.lua).
local ttl, finish = window_of(s, policy)
s.expires_at = string.format('%.0f', math.min(now + pttl, integer(s.last_seen_at) + ttl, finish))
s.max_expires_at = string.format('%.0f', finish)
return named(s, {'role', 'created_at', 'last_seen_at', 'expires_at', 'max_expires_at', 'email', 'user_created_at'})
