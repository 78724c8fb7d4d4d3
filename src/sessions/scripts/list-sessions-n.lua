-- list-sessions-n.lua: the sessions of one page of a user's device list (created-page-2.lua), read in
-- one consistent step, keeping the user's two indexes in step with what it reads.
--
-- KEYS[1]    the user's index,          <prefix>user:{<user_id>}:sessions
-- KEYS[2]    the user's cutoff,         <prefix>user:{<user_id>}:cutoff
-- KEYS[3]    the user's creation index, <prefix>user:{<user_id>}:created
-- KEYS[3+n]  the hash of the n-th session (a Cluster script must declare every key it touches; the
--            caller bounds how many)
-- ARGV[1]    user_id
-- ARGV[2]    the policies in force, cjson (session-state.lua, window_of): the global TTL and every
--            client's own values
-- ARGV[2+n]  the id of the n-th session
-- Returns  a list of the live sessions, in the order given, each a list of its fields by name
--          (name, value...): id, client, user_agent, ip, created_at, last_seen_at, expires_at,
--          max_expires_at (times in Unix ms; both ends under the session's policy now), aud.
--
-- Redis Cluster: every key is declared and carries the user's hash tag, so all are in one slot.
--
-- Prunes what it passes: entries of both indexes whose session is gone (or not this user's, or a
-- hash a stray write left without an expiry: session-state.lua). A session that is not live for
-- another reason is left out and left alone: one idle past a shortened TTL or past its absolute
-- end is ended at its next request (touch-session-6.lua), and a revoked one is deleted by its
-- revoke-all's sweep, which finds it through the index.
--
-- Fills in what it passes, too: a session that is not gone but that the creation index lacks
-- (written by a release before that index, or by one still running during a rolling update) is
-- added to it at its created_at. The store calls it on such sessions, found through the index,
-- before it pages (store.ts, `list`), so the device list holds every session whichever release
-- wrote it; ZADD NX, so the session's place never moves.
--- @include "clock"
--- @include "session-state"
--- @include "user-index"

local SESSION_FIELDS = {'id', 'client', 'user_agent', 'ip', 'created_at', 'last_seen_at', 'expires_at', 'max_expires_at', 'aud'}
local now = now_ms()
local policy = policy_arg(ARGV[2])
local cutoff = cutoff_of(KEYS[2])
local out, unindexed = {}, {}
local latest_end = nil
for n = 1, #ARGV - 2 do
  local id = ARGV[2 + n]
  local s, pttl = read_session(KEYS[3 + n], {'client', 'user_agent', 'ip'})
  local state = session_state(s, pttl, ARGV[1], {now = now, policy = policy, cutoff = cutoff})
  if state == 'gone' then
    unindexed[#unindexed + 1] = id
  else
    if not redis.call('ZSCORE', KEYS[3], id) then
      redis.call('ZADD', KEYS[3], 'NX', integer(s.created_at) or 0, id)
      latest_end = math.max(latest_end or 0, integer(s.max_expires_at))
    end
    if not state then
      -- The key's expiry, unless a window shortened since the last use brings it forward (live:
      -- its last use is a number, session-state.lua).
      local ttl, finish = window_of(s, policy)
      s.id = id
      s.expires_at = string.format('%.0f', math.min(now + pttl, integer(s.last_seen_at) + ttl, finish))
      s.max_expires_at = string.format('%.0f', finish)
      out[#out + 1] = named(s, SESSION_FIELDS)
    end
  end
end
if latest_end then expire_with_latest_end(KEYS[3], latest_end) end
if #unindexed > 0 then
  redis.call('ZREM', KEYS[1], unpack(unindexed))
  redis.call('ZREM', KEYS[3], unpack(unindexed))
end
return out
