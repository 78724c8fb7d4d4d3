import type { Config } from '../config/index.js'
import type { RedisClient } from '../redis/client.js'
import { createSessionTtl, type SessionTtl } from '../sessions/session-ttl.js'
import type { Log } from '../shared/log.js'

/** Reads the TTL in force and keeps following it until stopped. */
export async function startSessionTtl (redis: RedisClient, config: Config, log: Log): Promise<SessionTtl> {
  const ttl = createSessionTtl(redis, {
    keyPrefix: config.redisKeyPrefix,
    defaultSeconds: config.sessionTtlSeconds,
    maxSeconds: config.sessionMaxAgeSeconds,
    log,
  })
  await ttl.start()
  return ttl
}
