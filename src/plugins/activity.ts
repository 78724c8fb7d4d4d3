import fp from 'fastify-plugin'
import { type Activity, createActivity } from '../activity/activity.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Per-minute counts of the last hour, for the console's charts (GET /admin/activity). */
    activity: Activity
  }
}

export default fp(async (app) => {
  const { redis, config, metrics, log } = app
  const activity = createActivity(redis, { keyPrefix: config.redisKeyPrefix, countSessions: metrics.liveSessions, log })
  app.decorate('activity', activity)
  // Before the Redis client closes (it is registered earlier, so it closes later).
  app.addHook('onClose', () => activity.close())
}, { name: 'activity', dependencies: ['config', 'redis', 'metrics'] })
