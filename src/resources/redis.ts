import type { Config } from '../config/index.js'
import { closeRedis, connectRedis, createRedisClient, type RedisClient } from '../redis/client.js'
import type { Log } from '../shared/log.js'

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
