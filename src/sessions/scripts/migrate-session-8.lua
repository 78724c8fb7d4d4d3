-- migrate-session-8.lua: moves one session written by a layout-2 release (key names without hash
-- tags) to its layout-3 keys, so an upgrade logs no one out. Single Redis or Sentinel only: the
-- old and new names hash to different Cluster slots, and no layout-2 release ran on a Cluster.
--
-- KEYS[1]  the old hash,         <prefix>sess:<id>
-- KEYS[2]  the old owner,        <prefix>owner:<id>
-- KEYS[3]  the old index,        <prefix>user:<user_id>:sessions
-- KEYS[4]  the new hash,         <prefix>sess:{<user_id>}:<id>
-- KEYS[5]  the new owner,        <prefix>owner:{<user_id>}:<id>
-- KEYS[6]  the new index,        <prefix>user:{<user_id>}:sessions
-- KEYS[7]  the new generation,   <prefix>user:{<user_id>}:generation
-- KEYS[8]  the new cutoff,       <prefix>user:{<user_id>}:cutoff
-- ARGV[1]  session id
-- ARGV[2]  user_id the old hash was read with
-- ARGV[3]  the layout version to write
-- Returns  'moved', 'dropped' (ended by a revoke-all that ran on layout 3 after it was created), or
--          'gone' (expired, or not this user's, meanwhile, or no session at all: a hash without an
--          integer max_expires_at is not one, as session-state.lua rules; it is left to expire).
--- @include "clock"
--- @include "session-state"
--- @include "user-index"

-- Whether there is such a session is the one rule's (no policy, no cutoff: whether a revoke-all
-- ended it is decided below, by layout 2's own rule).
local s, pttl = read_session(KEYS[1], {'v'})
if session_state(s, pttl, ARGV[2], {}) == 'gone' then
  return 'gone'
end
redis.call('ZREM', KEYS[3], ARGV[1])
-- The generation and the cutoff are a revoke-all's Redis time in microseconds: a session created
-- before one must not outlive it, as it would not have on one layout. (The generation is kept a
-- day, the cutoff as long as a session can live.) A layout-2 session is judged by its creation
-- time alone: layout 2 never wrote a `generation` field, so any such field is not its own.
local generation = integer(redis.call('GET', KEYS[7])) or 0
local created_us = (integer(s.created_at) or 0) * 1000
if created_us <= generation or is_below_cutoff(created_us, cutoff_of(KEYS[8])) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 'dropped'
end

-- RENAME keeps the TTL: the sliding window and the owner's grace period are unchanged.
redis.call('RENAME', KEYS[1], KEYS[4])
if s.v ~= '1' then
  -- Layout 1 keeps its `v` until upgrade-session-1.lua completes it at its next request.
  redis.call('HSET', KEYS[4], 'v', ARGV[3])
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[5])
end
redis.call('ZADD', KEYS[6], string.format('%.0f', now_ms() + pttl), ARGV[1])
expire_with_last_session(KEYS[6])
return 'moved'
