import fp from 'fastify-plugin'
import { closeRedis, type RedisClient } from '../redis/client.js'
import { openRedis } from '../resources/redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The one Redis client (standalone, Cluster or Sentinel, as REDIS_* say) every Redis user shares. */
    redis: RedisClient
  }
}

export default fp(async (app) => {
  const redis = await openRedis(app.config, app.log)
  app.decorate<RedisClient>('redis', redis)
  app.addHook('onClose', () => closeRedis(redis))
}, { name: 'redis', dependencies: ['config'] })
