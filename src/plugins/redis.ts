import fp from 'fastify-plugin'
import type { Config } from '../config/index.js'
import { closeRedis, connectRedis, createRedisClient, type RedisClient } from '../redis/client.js'
import type { Log } from '../shared/log.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The one Redis client (standalone, Cluster or Sentinel, as REDIS_* say) every Redis user shares. */
    redis: RedisClient
  }
}

/** A connected client, or a thrown error (the client closed) if Redis does not answer in 2 s. */
export async function openRedis (config: Config, log: Log): Promise<RedisClient> {
  const redis = createRedisClient({ target: config.redis, commandTimeoutMs: config.redisCommandTimeoutMs, logger: log })
  try {
    await connectRedis(redis, 2000)
    return redis
  } catch (err) {
    await closeRedis(redis)
    throw err
  }
}

export default fp(async (app) => {
  const redis = await openRedis(app.config, app.log)
  app.decorate<RedisClient>('redis', redis)
  app.addHook('onClose', () => closeRedis(redis))
}, { name: 'redis', dependencies: ['config'] })
