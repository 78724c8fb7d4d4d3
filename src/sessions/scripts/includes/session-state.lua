-- session-state.lua (included): the one rule for "is this session live", shared by every script
-- that answers it (docs/session-contract.md, "Reading a session from another service").

-- The hash fields the rule reads (read_session reads them, and any others a script asks for).
local STATE_FIELDS = {'user_id', 'max_expires_at', 'last_seen_at', 'created_at', 'generation', 'aud'}

-- A field Gatehouse writes as a plain integer (Unix ms or µs), read as every reader of the contract
-- reads it: nil when it is absent or written any other way (tonumber would take ' 1', '1.5', '1e12'
-- or '0x1f', which a reader refuses: the two would disagree on a hash written by hand).
local function integer(value)
  if type(value) ~= 'string' or #value > 16 or not value:match('^%d+$') then return nil end
  return tonumber(value)
end

-- The user's revocation cutoff (<prefix>user:{<user_id>}:cutoff): sessions of a lower
-- generation were ended by a revoke-all. 0 when there is none; one that is not an integer (written
-- by hand) ends every session, as it does for every reader (fail closed).
local function cutoff_of(cutoff_key)
  local cutoff = redis.call('GET', cutoff_key)
  if not cutoff then return 0 end
  return integer(cutoff) or math.huge
end

-- The generation a session hash belongs to. Sessions written before the field existed count
-- from their creation (created_at is ms, generations are µs): a revoke-all after it ends them.
local function generation_of(s)
  return integer(s.generation) or (integer(s.created_at) or 0) * 1000
end

-- Whether a revoke-all ended a session of this generation: it is below the user's cutoff.
local function is_below_cutoff(generation, cutoff)
  return cutoff > 0 and generation < cutoff
end

-- The policy a session falls under is its client's, named by the hash's `aud` (the audience its
-- token is bound to); an unbound session, or one from before the field, falls under the global one.
-- policy (cjson of SessionPolicy, src/sessions/session-ttl.ts): {ttlMs = the global TTL in force,
-- clients = {[aud] = {ttl?, max_age?, ended_before?}}} in ms, only the values ops set.
-- Returns the idle window (ms), the absolute end (Unix ms: a client's maximum age, lowered since
-- the login, brings it forward) and the client's ending instant (or nil).
local function window_of(s, policy)
  local client = s.aud and s.aud ~= '' and policy.clients[s.aud] or nil
  local ttl, finish = policy.ttlMs, integer(s.max_expires_at)
  if not client then return ttl, finish, nil end
  if client.max_age then finish = math.min(finish, (integer(s.created_at) or 0) + client.max_age) end
  return client.ttl or ttl, finish, client.ended_before
end

-- The one rule for "is this session live". nil when it is; otherwise why not, and a detail:
--   'gone'     no such session of this user: a missing hash, another user's, malformed, bound to
--              another audience than the token's, or out of the token's reach (created_before);
--              detail 'no_expiry' for a hash with no expiry (PTTL -1): a stray write recreated it
--              after its session ended, since Gatehouse never writes a session without one, and
--              it never ends by itself (the sweep deletes it)
--   'revoked'  a revoke-all ended it (its keys are being deleted), or ops ended its client's
--              sessions (detail 'client_ended')
--   'max-age'  past its absolute end (its client's maximum age, if shorter)
--   'idle'     unused for longer than its idle window in force (ops may have shortened it), or its
--              last_seen_at is missing or not an integer (fail closed, as every reader)
-- Every time field is read as an integer (`integer`): written any other way, it is not one.
-- s, pttl: what read_session returned; user_id: the one the (verified) token names.
-- ask: what else the caller knows, by name, all optional:
--   now            Redis' time, Unix ms (needed with policy)
--   policy         see window_of; without it only 'gone' and a revoke-all's 'revoked' are decided
--                  (the sweep and the migration ask nothing of the session's clock)
--   cutoff         the user's cutoff (cutoff_of); 0 or nil: none
--   token_aud      the token's audience, '' for none; nil when there is no token
--   created_before Unix ms: the token reaches only sessions created before it (a former HS256
--                  secret's token, while a private key signs: sessions/token-windows.ts)
-- Every script that asks "is this session live" asks it here, the expiry included.
local function session_state(s, pttl, user_id, ask)
  if pttl == -1 then return 'gone', 'no_expiry' end
  if pttl <= 0 or s.user_id ~= user_id or not integer(s.max_expires_at) then return 'gone' end
  if ask.token_aud and s.aud and s.aud ~= ask.token_aud then return 'gone' end
  if ask.created_before and (integer(s.created_at) or 0) >= ask.created_before then return 'gone' end
  if is_below_cutoff(generation_of(s), ask.cutoff or 0) then return 'revoked' end
  local policy = ask.policy
  if not policy then return nil end
  local ttl, finish, ended_before = window_of(s, policy)
  -- A session from before the field falls under the global windows, but an ending of its token's
  -- client ends it all the same (never a longer life for it, only a shorter one).
  if not s.aud and ask.token_aud and ask.token_aud ~= '' then
    local client = policy.clients[ask.token_aud]
    ended_before = client and client.ended_before or nil
  end
  if ended_before and (integer(s.created_at) or 0) < ended_before then return 'revoked', 'client_ended' end
  if finish <= ask.now then return 'max-age' end
  local last_seen_at = integer(s.last_seen_at)
  if not last_seen_at or ask.now - last_seen_at > ttl then return 'idle' end
  return nil
end

-- The policy argument of a script (cjson), with the clients table always present.
local function policy_arg(json)
  local policy = cjson.decode(json)
  if type(policy.clients) ~= 'table' then policy.clients = {} end
  return policy
end

-- The session hash's fields by name (a field it lacks is false, as HMGET gives it): those the rule
-- reads and `extra`; and the key's PTTL. Both are what session_state reads.
local function read_session(key, extra)
  local names = {unpack(STATE_FIELDS)}
  for _, name in ipairs(extra) do names[#names + 1] = name end
  local values = redis.call('HMGET', key, unpack(names))
  local s = {}
  for i, name in ipairs(names) do s[name] = values[i] end
  return s, redis.call('PTTL', key)
end

-- A reply of named fields, flat (name, value, name, value...): callers read them by name
-- (scripts/index.ts, fieldsOf). A field the hash lacks is ''.
local function named(s, names)
  local out = {}
  for _, name in ipairs(names) do
    out[#out + 1] = name
    out[#out + 1] = s[name] or ''
  end
  return out
end
