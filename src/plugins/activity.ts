import fp from 'fastify-plugin'
import { type Activity, createActivity } from '../telemetry/activity.js'
import { createRecentSessions, type RecentSessions } from '../telemetry/recent-sessions.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Per-minute counts of the last hour, for the console's charts (GET /admin/activity). */
    activity: Activity
    /** The sessions most recently active across instances (GET /admin/sessions), noted by `authenticate`. */
    recentSessions: RecentSessions
  }
}

export default fp(async (app) => {
  const { redis, config, metrics, log } = app
  const activity = createActivity(redis, { keyPrefix: config.redisKeyPrefix, countSessions: metrics.liveSessions, log })
  const recentSessions = createRecentSessions(redis, { keyPrefix: config.redisKeyPrefix, log })
  app.decorate('activity', activity)
  app.decorate('recentSessions', recentSessions)
  // Before the Redis client closes (it is registered earlier, so it closes later).
  app.addHook('onClose', () => Promise.all([activity.close(), recentSessions.close()]).then(() => {}))
}, { name: 'activity', dependencies: ['config', 'redis', 'metrics'] })
