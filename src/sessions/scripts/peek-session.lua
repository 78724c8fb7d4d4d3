-- peek-session.lua: is this session live? Read only: nothing is extended (introspection).
--
-- KEYS[1]  the session hash,       <prefix>sess:{<user_id>}:<id>
-- KEYS[2]  the user's cutoff,      <prefix>user:{<user_id>}:cutoff
-- ARGV[1]  user_id the (verified) token claims
-- ARGV[2]  the policy in force for the token's client, cjson (session-state.lua, window_of)
-- ARGV[3]  '' or Unix ms: the token reaches only a session created before it (session-state.lua)
-- ARGV[4]  the token's audience ('' for an unbound token)
-- Returns  {role, created_at, last_seen_at, expires_at, max_expires_at, email, user_created_at}
--          (times in Unix ms; '' for what an older session lacks, as in touch-session.lua;
--          max_expires_at is the end under its policy now), or
--          false when there is no live session: the same rule as touch-session.lua
--          (session-state.lua).
--- @include "clock"
--- @include "session-state"

local f, pttl = read_session(KEYS[1], {'role', 'email', 'user_created_at'})
local now = now_ms()
local policy = policy_arg(ARGV[2])
if session_state(f, pttl, ARGV[1], now, policy, cutoff_of(KEYS[2]), tonumber(ARGV[3]), ARGV[4]) then
  return false
end
local ttl, finish = window_of(f, policy)
local last_seen = tonumber(f[3]) or now
return {f[7] or '', f[4], f[3], string.format('%.0f', math.min(now + pttl, last_seen + ttl, finish)), string.format('%.0f', finish), f[8] or '', f[9] or ''}
