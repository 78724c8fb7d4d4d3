-- upgrade-session-1.lua: completes a session written by an older release, at its first request
-- after an upgrade, so an upgrade logs no one out: a layout-1 session (from before roles and
-- devices) gains its role and empty device fields, and any session without the user's email and
-- sign-up time (from before GET /me was served from the session) gains those.
--
-- KEYS[1]  the session hash, <prefix>sess:{<user_id>}:<id>
-- ARGV[1]  user_id the (verified) token claims
-- ARGV[2]  the user's role        } read from Postgres
-- ARGV[3]  the user's email       }
-- ARGV[4]  user_created_at, ms    }
-- ARGV[5]  layout version to write
-- Returns  1 if completed, 0 if the session is gone (or not this user's, or already complete).
--
-- Checked and written in one step: a session deleted meanwhile is not recreated.
local fields = redis.call('HMGET', KEYS[1], 'user_id', 'v', 'email')
if fields[1] ~= ARGV[1] then
  return 0
end
if fields[2] == '1' then
  redis.call('HSET', KEYS[1], 'v', ARGV[5], 'role', ARGV[2], 'client', '', 'user_agent', '', 'ip', '')
elseif fields[3] then
  return 0
end
redis.call('HSET', KEYS[1], 'email', ARGV[3], 'user_created_at', ARGV[4])
return 1
