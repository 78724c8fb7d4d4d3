import fp from 'fastify-plugin'
import { createMetrics, type Metrics } from '../telemetry/metrics.js'
import { countSessions } from '../sessions/store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Prometheus metrics in the app's own registry (served at GET /metrics). */
    metrics: Metrics
  }
}

export default fp(async (app) => {
  const { redis, passwords, config } = app
  app.decorate('metrics', createMetrics(() => countSessions(redis, config.redisKeyPrefix), () => passwords.stats()))
}, { name: 'metrics', dependencies: ['config', 'redis', 'passwords'] })
