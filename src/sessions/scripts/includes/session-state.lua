-- session-state.lua (included): the one rule for "is this session live", shared by every script
-- that answers it (docs/session-contract.md, "Reading a session from another service").

-- The hash fields the rule reads, in the order session_state expects them (HMGET them first).
local STATE_FIELDS = {'user_id', 'max_expires_at', 'last_seen_at', 'created_at', 'generation', 'aud'}

-- The user's revocation cutoff (<prefix>user:{<user_id>}:cutoff): sessions of a lower
-- generation were ended by a revoke-all. 0 when there is none.
local function cutoff_of(cutoff_key)
  return tonumber(redis.call('GET', cutoff_key) or '0') or 0
end

-- The generation a session hash belongs to. Sessions written before the field existed count
-- from their creation (created_at is ms, generations are µs): a revoke-all after it ends them.
local function generation_of(f)
  return tonumber(f[5]) or (tonumber(f[4]) or 0) * 1000
end

-- Whether a revoke-all ended a session of this generation: it is below the user's cutoff.
local function is_below_cutoff(generation, cutoff)
  return cutoff > 0 and generation < cutoff
end

-- Whether a revoke-all ended the session.
local function is_revoked(f, cutoff)
  return is_below_cutoff(generation_of(f), cutoff)
end

-- The policy a session falls under is its client's, named by the hash's `aud` (the audience its
-- token is bound to); an unbound session, or one from before the field, falls under the global one.
-- policy (cjson of SessionPolicy, src/sessions/session-ttl.ts): {ttlMs = the global TTL in force,
-- clients = {[aud] = {ttl?, max_age?, ended_before?}}} in ms, only the values ops set.
-- Returns the idle window (ms), the absolute end (Unix ms: a client's maximum age, lowered since
-- the login, brings it forward) and the client's ending instant (or nil).
local function window_of(f, policy)
  local aud = f[6]
  local client = aud and aud ~= '' and policy.clients[aud] or nil
  local ttl, finish = policy.ttlMs, tonumber(f[2])
  if not client then return ttl, finish, nil end
  if client.max_age then finish = math.min(finish, (tonumber(f[4]) or 0) + client.max_age) end
  return client.ttl or ttl, finish, client.ended_before
end

-- nil when the session is live; otherwise why not (and, for 'revoked', a cause when it is known here):
--   'gone'     no such session of this user (missing hash, another user's, malformed, bound to
--              another audience than the token's, or a hash with no expiry: PTTL -1 means a stray
--              write recreated it after its session ended, since Gatehouse never writes a session without one)
--   'revoked'  a revoke-all ended it (its keys are being deleted), or ops ended its client's
--              sessions ('client_ended')
--   'max-age'  past its absolute end (its client's maximum age, if shorter)
--   'idle'     unused for longer than its idle window in force (ops may have shortened it)
-- f, pttl: what read_session returned; user_id: the one the (verified) token names; policy: see
-- window_of. token_aud (optional): the token's audience, '' for none; nil when there is no token.
-- created_before (optional, Unix ms): the token reaches only sessions created before it (a former
-- HS256 secret's token, while a private key signs: sessions/token-windows.ts); others are 'gone' to it.
-- Every script that asks "is this session live" asks it here, the expiry included.
local function session_state(f, pttl, user_id, now, policy, cutoff, created_before, token_aud)
  local max_expires_at = tonumber(f[2])
  if f[1] ~= user_id or not max_expires_at or pttl <= 0 then return 'gone' end
  if token_aud and f[6] and f[6] ~= token_aud then return 'gone' end
  if created_before and (tonumber(f[4]) or 0) >= created_before then return 'gone' end
  if is_revoked(f, cutoff) then return 'revoked' end
  local ttl, finish, ended_before = window_of(f, policy)
  -- A session from before the field falls under the global windows, but an ending of its token's
  -- client ends it all the same (never a longer life for it, only a shorter one).
  if not f[6] and token_aud and token_aud ~= '' then
    local client = policy.clients[token_aud]
    ended_before = client and client.ended_before or nil
  end
  if ended_before and (tonumber(f[4]) or 0) < ended_before then return 'revoked', 'client_ended' end
  if finish <= now then return 'max-age' end
  -- A last_seen_at that is missing or not a number is idle (fail closed, as every reader).
  if now - (tonumber(f[3]) or 0) > ttl then return 'idle' end
  return nil
end

-- The policy argument of a script (cjson), with the clients table always present.
local function policy_arg(json)
  local policy = cjson.decode(json)
  if type(policy.clients) ~= 'table' then policy.clients = {} end
  return policy
end

-- HMGET of STATE_FIELDS followed by `extra` fields (which come back from index 7 on), and the
-- key's PTTL: both are what session_state reads.
local function read_session(key, extra)
  local fields = {unpack(STATE_FIELDS)}
  for _, name in ipairs(extra) do fields[#fields + 1] = name end
  return redis.call('HMGET', key, unpack(fields)), redis.call('PTTL', key)
end
