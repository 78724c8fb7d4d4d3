-- session-state.lua (included): the one rule for "is this session live", shared by every script
-- that answers it (docs/session-contract.md, "Reading a session from another service").

-- The hash fields the rule reads, in the order session_state expects them (HMGET them first).
local STATE_FIELDS = {'user_id', 'max_expires_at', 'last_seen_at', 'created_at', 'generation'}

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

-- nil when the session is live; otherwise why not:
--   'gone'     no such session of this user (missing hash, another user's, malformed, or a hash
--              with no expiry: PTTL -1 means a stray write recreated it after its session ended,
--              since Gatehouse never writes a session without one)
--   'revoked'  a revoke-all ended it (its keys are being deleted)
--   'max-age'  past its absolute end
--   'idle'     unused for longer than the TTL in force (ops may have shortened it)
-- f, pttl: what read_session returned; user_id: the one the (verified) token names; ttl: ms.
-- created_before (optional, Unix ms): the token reaches only sessions created before it (a former
-- HS256 secret's token, while a private key signs: sessions/token-windows.ts); others are 'gone' to it.
-- Every script that asks "is this session live" asks it here, the expiry included.
local function session_state(f, pttl, user_id, now, ttl, cutoff, created_before)
  local max_expires_at = tonumber(f[2])
  if f[1] ~= user_id or not max_expires_at or pttl <= 0 then return 'gone' end
  if created_before and (tonumber(f[4]) or 0) >= created_before then return 'gone' end
  if is_revoked(f, cutoff) then return 'revoked' end
  if max_expires_at <= now then return 'max-age' end
  if now - (tonumber(f[3]) or now) > ttl then return 'idle' end
  return nil
end

-- HMGET of STATE_FIELDS followed by `extra` fields (which come back from index 6 on), and the
-- key's PTTL: both are what session_state reads.
local function read_session(key, extra)
  local fields = {unpack(STATE_FIELDS)}
  for _, name in ipairs(extra) do fields[#fields + 1] = name end
  return redis.call('HMGET', key, unpack(fields)), redis.call('PTTL', key)
end
