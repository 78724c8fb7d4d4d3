import type { Config } from '../config/index.js'
import type { RedisClient } from '../redis/client.js'
import { createThrottles, type Throttles } from '../throttle/throttles.js'

export function openThrottles (redis: RedisClient, config: Config, onLimited?: (limit: string) => void): Throttles {
  return createThrottles(redis, { ...config.throttle, keyPrefix: config.redisKeyPrefix, onLimited })
}
