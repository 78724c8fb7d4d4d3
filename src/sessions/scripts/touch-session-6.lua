-- touch-session-6.lua: the sliding window. Runs on every authenticated request.
--
-- KEYS[1]  the session hash,       <prefix>sess:{<user_id>}:<id>
-- KEYS[2]  the user's index,       <prefix>user:{<user_id>}:sessions
-- KEYS[3]  the session owner,      <prefix>owner:{<user_id>}:<id>
-- KEYS[4]  the user's cutoff,      <prefix>user:{<user_id>}:cutoff
-- KEYS[5]  the user's confirmation, <prefix>user:{<user_id>}:email_verified_at (read only when the
--          hash has none: a confirmation made after the login)
-- KEYS[6]  the user's creation index, <prefix>user:{<user_id>}:created
-- ARGV[1]  session id
-- ARGV[2]  user_id the (verified) token claims
-- ARGV[3]  the policy in force for the token's client, cjson (session-state.lua, window_of): the
--          global TTL and the client's own values, which ops may change while sessions live
-- ARGV[4]  how often, at most, a session's last use is written, milliseconds (TOUCH_WRITE_INTERVAL_MS;
--          a tenth of the TTL if that is shorter): part of the contract
-- ARGV[5]  '' or Unix ms: the token reaches only a session created before it (session-state.lua)
-- ARGV[6]  the token's audience ('' for an unbound token): a session bound to another is not its
-- ARGV[7...] the names of the session's user fields to answer with (scripts/index.ts names them:
--          role, email, user_created_at, email_verified_at)
-- Returns  {'ok', <value of ARGV[7]>, <value of ARGV[8]>...}: the user the session belongs to, the
--          fields the caller named, in its order (the caller reads them by the names it sent, and a
--          reply on every request carries no names), so that an authenticated request needs nothing
--          else ('' for fields a session written by an older release lacks: role before layout 2,
--          email and user_created_at before sessions carried them; email_verified_at from the hash,
--          or from KEYS[5] for a confirmation made since, or ''),
--          {'ended', {reason, 'idle' | 'max-age', client, <client>}} when this call ended the session
--          (client: the hash's `client` field, '' if none, for the `expired` event),
--          {'revoked'} when a revoke-all or ops' ending of its client ended it (its keys are deleted
--          by the revoke-all's sweep, or expire),
--          {'gone'} when there is no such session.
--
-- The race it closes: HSET and ZADD recreate a deleted key. A request that read the session just
-- before a logout's DEL and wrote last_seen_at just after would bring the session (or its index
-- entry) back to life: the connect-redis / express-session bug. Here the existence check and the
-- writes are one atomic step, so a deleted session stays deleted; and a session a revoke-all has
-- cut off is never extended again, so its keys only wait for the sweep (or their expiry).
--- @include "clock"
--- @include "session-state"
--- @include "user-index"

local USER_FIELDS = {unpack(ARGV, 7)}
local s, pttl = read_session(KEYS[1], USER_FIELDS)
local policy = policy_arg(ARGV[3])

-- The session's user, by name. When the user confirmed the email: as the login recorded it, else
-- a confirmation made since (one GET, only for sessions whose user had not confirmed at login).
local function user_of()
  if not s.email_verified_at or s.email_verified_at == '' then
    s.email_verified_at = redis.call('GET', KEYS[5]) or ''
  end
  local user = {'ok'}
  for i, name in ipairs(USER_FIELDS) do user[i + 1] = s[name] or '' end
  return user
end
local now = now_ms()
-- A hash without an expiry is 'gone' (session-state.lua): never extended, never brought back.
local state = session_state(s, pttl, ARGV[2], {now = now, policy = policy, cutoff = cutoff_of(KEYS[4]), created_before = tonumber(ARGV[5]), token_aud = ARGV[6]})
if state == 'gone' or state == 'revoked' then
  return {state}
end
if state then
  -- Past its absolute lifetime, or idle for longer than the TTL in force now (which ops may have
  -- shortened since the key's expiry was set): end it now rather than wait for the key to expire.
  -- Its client is read only here, for the `expired` event: every other request goes without it.
  local ended = {reason = state, client = redis.call('HGET', KEYS[1], 'client')}
  redis.call('DEL', KEYS[1], KEYS[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
  return {'ended', named(ended, {'reason', 'client'})}
end

-- Written at most once a second per session (docs/session-contract.md, "last_seen_at"): a request
-- within a second of the last write, whose window would end within a second of where the key's
-- expiry already is, leaves the session as it is, read-only. A burst of requests on one session
-- then costs Redis four reads each rather than eight commands, and the window ends at most a
-- second before exact sliding would end it, never after. The expiry is compared (PTTL) so that a
-- TTL that ops changed since the last write takes effect at once, either way. Nothing else changes: the checks
-- above ran, and a session that ended is never written either way. (A last_seen_at ahead of this
-- clock, after a failover to a server whose clock is behind, is not trusted to skip anything.)
local ttl, finish = window_of(s, policy)
local expires = math.min(now + ttl, finish)
local interval = math.min(tonumber(ARGV[4]), ttl / 10)
local since_write = now - integer(s.last_seen_at)
if since_write >= 0 and since_write < interval then
  -- How far short of the window the key's expiry falls: skipped only when it is short by less than
  -- the interval. A key that would outlive the window (ops lowered the TTL) is written.
  local short_by = expires - (now + pttl)
  if short_by >= 0 and short_by < interval then
    return user_of()
  end
end

-- The window never reaches past max_expires_at, and is set outright (not GT) so a lowered TTL
-- applies too. The index score is the same expiry, which keeps the index ordered by last use.
local expires_s = string.format('%.0f', expires)
redis.call('HSET', KEYS[1], 'last_seen_at', string.format('%.0f', now))
redis.call('PEXPIREAT', KEYS[1], expires_s)
redis.call('ZADD', KEYS[2], expires_s, ARGV[1])
expire_with_last_session(KEYS[2])
return user_of()
