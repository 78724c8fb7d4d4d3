-- list-sessions.lua: the sessions of one page of a user's device list (created-page.lua), read in
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
-- Returns  a flat list, 9 entries per live session, in the order given: id, client, user_agent,
--          ip, created_at, last_seen_at, expires_at, max_expires_at (times in Unix ms; both ends
--          under the session's policy now), aud.
--
-- Redis Cluster: every key is declared and carries the user's hash tag, so all are in one slot.
--
-- Prunes what it passes: entries of both indexes whose session is gone (or not this user's, or a
-- hash a stray write left without an expiry: session-state.lua). A session that is not live for
-- another reason is left out and left alone: one idle past a shortened TTL or past its absolute
-- end is ended at its next request (touch-session.lua), and a revoked one is deleted by its
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

local now = now_ms()
local policy = policy_arg(ARGV[2])
local cutoff = cutoff_of(KEYS[2])
local out, unindexed = {}, {}
local latest_end = nil
for n = 1, #ARGV - 2 do
  local id = ARGV[2 + n]
  local f, pttl = read_session(KEYS[3 + n], {'client', 'user_agent', 'ip'})
  local state = session_state(f, pttl, ARGV[1], now, policy, cutoff)
  if state == 'gone' then
    unindexed[#unindexed + 1] = id
  else
    if not redis.call('ZSCORE', KEYS[3], id) then
      redis.call('ZADD', KEYS[3], 'NX', tonumber(f[4]) or 0, id)
      latest_end = math.max(latest_end or 0, tonumber(f[2]))
    end
    if not state then
      -- The key's expiry, unless a window shortened since the last use brings it forward.
      local ttl, finish = window_of(f, policy)
      local m = #out
      out[m + 1] = id
      out[m + 2] = f[7] or ''
      out[m + 3] = f[8] or ''
      out[m + 4] = f[9] or ''
      out[m + 5] = f[4] or ''
      out[m + 6] = f[3] or ''
      out[m + 7] = string.format('%.0f', math.min(now + pttl, (tonumber(f[3]) or now) + ttl, finish))
      out[m + 8] = string.format('%.0f', finish)
      out[m + 9] = f[6] or ''
    end
  end
end
if latest_end then expire_with_latest_end(KEYS[3], latest_end) end
if #unindexed > 0 then
  redis.call('ZREM', KEYS[1], unpack(unindexed))
  redis.call('ZREM', KEYS[3], unpack(unindexed))
end
return out
