import fp from 'fastify-plugin'
import type { Config } from '../config/index.js'
import type { RedisClient } from '../redis/client.js'
import { createThrottles, type Throttles } from '../throttle/throttles.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Brute-force limits on password checks and sign-ups, shared through Redis. */
    throttles: Throttles
  }
}

export function openThrottles (redis: RedisClient, config: Config, onLimited?: (limit: string) => void): Throttles {
  return createThrottles(redis, { ...config.throttle, keyPrefix: config.redisKeyPrefix, onLimited })
}

export default fp(async (app) => {
  const { metrics, activity } = app
  // Every refusal is one 429 (the only place a 429 is made): counted for Prometheus and the console's chart.
  app.decorate('throttles', openThrottles(app.redis, app.config, (limit) => {
    metrics.throttled.inc({ limit })
    activity.count('throttled')
  }))
}, { name: 'throttles', dependencies: ['config', 'redis', 'metrics', 'activity'] })
