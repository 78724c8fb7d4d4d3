-- end-revoked-sessions-n.lua: the sweep after a revoke-all. Deletes the keys of the given sessions
-- that the revoke-all cut off, a batch at a time (the caller walks the index page by page), so that
-- readers of the contract see them gone too. Work is bounded by the batch the caller passes.
--
-- KEYS[1]  the user's index,       <prefix>user:{<user_id>}:sessions
-- KEYS[2]  the user's cutoff,      <prefix>user:{<user_id>}:cutoff
-- KEYS[3]  the user's creation index, <prefix>user:{<user_id>}:created
-- KEYS[2+2n], KEYS[3+2n]  the hash and owner key of ARGV[1+n], for n = 1, 2...
-- ARGV[1]  user_id: only sessions of this user are touched
-- ARGV[1+n]  the id of the n-th declared session
-- Returns  the sessions it deleted (those of a generation below the user's cutoff), flat: id, client
--          (the hash's `client` field, '' if none, for their `revoked` events), id, client...
--
-- Redis Cluster: every key is declared and carries the user's hash tag, so all are in one slot.
-- Safe to run at any time and more than once: sessions created or kept since the cutoff are of
-- its generation and stay; index entries whose session is gone are pruned.
--- @include "clock"
--- @include "session-state"

local cutoff = cutoff_of(KEYS[2])
local ended, doomed, unindexed = {}, {}, {}
for n = 1, #ARGV - 1 do
  local id, key, owner = ARGV[1 + n], KEYS[2 + 2 * n], KEYS[3 + 2 * n]
  -- No policy: the session's clock plays no part here, only a revoke-all's 'revoked' and 'gone'.
  local s, pttl = read_session(key, {'client'})
  local state, detail = session_state(s, pttl, ARGV[1], {cutoff = cutoff})
  if state == 'revoked' then
    ended[#ended + 1] = id
    ended[#ended + 1] = s.client or ''
    doomed[#doomed + 1] = key
    doomed[#doomed + 1] = owner
    unindexed[#unindexed + 1] = id
  elseif detail == 'no_expiry' then
    -- A hash with no expiry (a stray write's) never ends by itself: deleted, though no session ended.
    doomed[#doomed + 1] = key
    unindexed[#unindexed + 1] = id
  elseif state == 'gone' then
    unindexed[#unindexed + 1] = id
  end
end
-- One DEL and one ZREM for the batch (the caller bounds it): a third of the calls of doing each.
if #doomed > 0 then redis.call('DEL', unpack(doomed)) end
if #unindexed > 0 then
  redis.call('ZREM', KEYS[1], unpack(unindexed))
  redis.call('ZREM', KEYS[3], unpack(unindexed))
end
return ended
