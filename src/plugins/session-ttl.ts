import fp from 'fastify-plugin'
import type { Config } from '../config/index.js'
import type { RedisClient } from '../redis/client.js'
import { createSessionTtl, type SessionTtl } from '../sessions/session-ttl.js'
import type { Log } from '../shared/log.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The sliding TTL in force, shared by every instance through Redis (ops change it live). */
    sessionTtl: SessionTtl
  }
}

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

export default fp(async (app) => {
  const ttl = await startSessionTtl(app.redis, app.config, app.log)
  app.decorate('sessionTtl', ttl)
  app.addHook('onClose', async () => ttl.stop())
}, { name: 'session-ttl', dependencies: ['config', 'redis'] })
