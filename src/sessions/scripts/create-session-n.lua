-- create-session-n.lua: a login. Stores the session hash, indexes it under its user and enforces
-- the per-user cap, all in one atomic step on Redis' clock.
--
-- KEYS[1]  the session hash,       <prefix>sess:{<user_id>}:<id>
-- KEYS[2]  the user's index,       <prefix>user:{<user_id>}:sessions
-- KEYS[3]  the user's generation,  <prefix>user:{<user_id>}:generation
-- KEYS[4]  the session owner,      <prefix>owner:{<user_id>}:<id>
-- KEYS[5]  the user's cutoff,      <prefix>user:{<user_id>}:cutoff
-- KEYS[6]  the user's creation index, <prefix>user:{<user_id>}:created (the device list's order)
-- KEYS[4+3n], KEYS[5+3n], KEYS[6+3n]  the hash, owner key and ending key
--          (<prefix>ended:{<user_id>}:<id>) of ARGV[1+n], for n = 1, 2...: the sessions already in
--          the index, declared only when the cap must be enforced (see 'members')
-- ARGV[1]  the login, one JSON object (cjson), so each value is named where it is used. Strings
--          are stored as given; numbers are ms or counts:
--            id               the session id
--            user_id, role    the user's id and role, stored in the hash
--            email            the user's email, stored in the hash
--            user_created_at  when the user signed up, Unix ms as a string, stored in the hash
--            email_verified_at  when the user confirmed the email, Unix ms as a string, or '' (not
--                             at login), stored in the hash
--            client, user_agent, ip   the device, stored in the hash
--            aud              the audience the token is bound to ('' for none), stored in the hash:
--                             the client whose policy the session falls under
--            v                the layout version, stored in the hash
--            generation       the generation the login read before checking the password
--            ttl_ms           the sliding TTL (the client's own, if ops set one)
--            max_age_ms       the absolute lifetime (likewise)
--            max_per_user     most sessions a user may have (0 = no limit)
--            owner_grace_ms   how long the owner key outlives the session
-- ARGV[1+n]  the id of the n-th declared session
-- Returns  {'ok', created_at, max_expires_at, evicted id...} (Unix ms),
--          {'taken'} if the id exists, {'stale'} if the user's sessions were revoked meanwhile,
--          {'members', id...} if the cap must be enforced and a session to evict is not declared in
--          KEYS: the EVICT_MAX least recently used sessions; nothing was written but pruning: call
--          again declaring these.
--
-- Redis Cluster: every key is declared and carries the user's hash tag, so all are in one slot.
-- Evicting needs the other sessions' keys, which only the index names: hence 'members'.
--
-- Races it closes:
-- * A revoke-all (logout everywhere, password or role change) that runs while a login is between
--   its password check and this script changes the generation: the login is refused ('stale') and
--   checks again, so no session authorised by an old password or role outlives the change.
-- * Concurrent logins over the cap: counting, evicting and adding are one step, so the cap holds
--   (once a user is within it: see EVICT_MAX).
-- * The index and the hash are written together: a revoke-all never misses a session.
--- @include "clock"
--- @include "user-index"

local login = cjson.decode(ARGV[1])

-- At most this many stale index entries are dropped, and this many sessions evicted, per login:
-- the work of one call is bounded whatever the user's number of sessions. A cap lowered far below
-- a user's count is reached over that user's next logins, EVICT_MAX at a time.
local PRUNE_MAX = 100
local EVICT_MAX = 100
-- Entries of the creation index checked against the index per login (see below).
local CREATED_SAMPLE = 10

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'taken'}
end
if (redis.call('GET', KEYS[3]) or '') ~= login.generation then
  return {'stale'}
end

local now = now_ms()

prune_expired(KEYS[2], KEYS[6], now, PRUNE_MAX)
-- Entries of sessions that ended otherwise (their keys expired, nobody listed them since) leave the
-- index by its score, but the creation index has none to go by: once the index is empty so is every
-- entry; else a few sampled ones it no longer holds are dropped, so it keeps near the index's size.
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[6])
else
  local sample = redis.call('ZRANDMEMBER', KEYS[6], CREATED_SAMPLE)
  if #sample > 0 then
    local scores = redis.call('ZMSCORE', KEYS[2], unpack(sample))
    local gone = {}
    for i, id in ipairs(sample) do
      if not scores[i] then gone[#gone + 1] = id end
    end
    if #gone > 0 then redis.call('ZREM', KEYS[6], unpack(gone)) end
  end
end

-- Only entries whose session has not run out count and can be evicted (an index may still hold a
-- backlog of expired ones beyond what PRUNE_MAX dropped): the least recently used live ones are
-- the lowest scores from now on.
local now_s = string.format('%.0f', now)
local function least_recently_used(count)
  return redis.call('ZRANGE', KEYS[2], now_s, '+inf', 'BYSCORE', 'LIMIT', 0, count)
end

local evicted = {}
local cap = login.max_per_user
if cap > 0 and redis.call('ZCOUNT', KEYS[2], now_s, '+inf') >= cap then
  -- n for each declared session id: its keys are KEYS[4+3n], KEYS[5+3n] and KEYS[6+3n].
  local declared = {}
  for i = 2, #ARGV do declared[ARGV[i]] = i - 1 end
  -- Entries whose hash is gone (e.g. evicted by maxmemory) must not count against the cap. Only
  -- declared sessions can be checked; the others are newer than the caller's list, so alive.
  for id, n in pairs(declared) do
    if redis.call('EXISTS', KEYS[4 + 3 * n]) == 0 then
      redis.call('ZREM', KEYS[2], id)
      redis.call('ZREM', KEYS[6], id)
    end
  end
  -- Lowest score = earliest sliding expiry = the least recently used session. Concurrent logins
  -- add the newest sessions, so a list read a moment ago still covers the ones to evict.
  local excess = redis.call('ZCOUNT', KEYS[2], now_s, '+inf') - cap + 1
  if excess > 0 then
    local victims = least_recently_used(math.min(excess, EVICT_MAX))
    for _, id in ipairs(victims) do
      if not declared[id] then
        -- The least recently used EVICT_MAX, not just the victims: concurrent logins evict the
        -- ones named now, and the next victims are then likely among the rest.
        local reply = {'members'}
        for _, member in ipairs(least_recently_used(EVICT_MAX)) do reply[#reply + 1] = member end
        return reply
      end
    end
    for _, id in ipairs(victims) do
      local n = declared[id]
      redis.call('ZREM', KEYS[2], id)
      redis.call('ZREM', KEYS[6], id)
      -- Why it ended, for its app, as long as its window would have lasted (no longer).
      local left = redis.call('PTTL', KEYS[4 + 3 * n])
      if left > 0 then redis.call('SET', KEYS[6 + 3 * n], 'session_limit', 'PX', left) end
      if redis.call('DEL', KEYS[4 + 3 * n]) == 1 then evicted[#evicted + 1] = id end
      redis.call('DEL', KEYS[5 + 3 * n])
    end
  end
end

-- max_expires_at is rounded down to a whole second so it equals the token's `exp` * 1000.
local max_expires_at = math.floor((now + login.max_age_ms) / 1000) * 1000
local expires_at = math.min(now + login.ttl_ms, max_expires_at)

-- %.0f: plain digits (a Lua number would otherwise be sent as 1.7e+12).
local max_s = string.format('%.0f', max_expires_at)
local expires_s = string.format('%.0f', expires_at)
redis.call('HSET', KEYS[1],
  'v', login.v,
  'user_id', login.user_id,
  'role', login.role,
  'created_at', now_s,
  'last_seen_at', now_s,
  'max_expires_at', max_s,
  'client', login.client,
  'user_agent', login.user_agent,
  'ip', login.ip,
  'email', login.email,
  'user_created_at', login.user_created_at,
  'email_verified_at', login.email_verified_at,
  'aud', login.aud,
  -- The generation this session belongs to, the user's cutoff now: a later revoke-all raises the
  -- cutoff above it.
  'generation', redis.call('GET', KEYS[5]) or '0')
redis.call('PEXPIREAT', KEYS[1], expires_s)
-- Who owned the session, kept a little past its absolute end: when Redis expires the hash, this is
-- how the expired event names the user (and GETDEL on it makes one instance publish it).
redis.call('SET', KEYS[4], login.user_id, 'PXAT', string.format('%.0f', max_expires_at + login.owner_grace_ms))
redis.call('ZADD', KEYS[2], expires_s, login.id)
expire_with_last_session(KEYS[2])
redis.call('ZADD', KEYS[6], now_s, login.id)
expire_with_latest_end(KEYS[6], max_expires_at)

local result = {'ok', now_s, max_s}
for _, id in ipairs(evicted) do result[#result + 1] = id end
return result
