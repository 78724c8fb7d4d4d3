import fp from 'fastify-plugin'
import { openSessionStore } from '../resources/sessions.js'
import type { EventSink } from '../sessions/events.js'
import { startExpiryWatcher } from '../sessions/expiry-watcher.js'
import { migrateInBackground } from '../sessions/migrate-layout.js'
import type { SessionStore } from '../sessions/store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Sessions in Redis: the layout other services read (docs/session-contract.md). */
    sessions: SessionStore
  }
}

export interface SessionsPluginOptions {
  /** Move sessions a layout-2 release wrote to today's keys, in the background once listening. */
  migrateLegacySessions?: boolean
}

export default fp<SessionsPluginOptions>(async (app, options) => {
  const { redis, config, sessionTtl, metrics, recentSessions, log } = app
  // The console's recent sessions: a login is a use; an ended session leaves the list.
  const noteRecent: EventSink = async (events) => {
    for (const event of events) {
      if (event.type === 'created') recentSessions.seen(event.userId, event.sessionId)
      else if (event.sessionId !== '') recentSessions.ended(event.userId, event.sessionId)
    }
  }
  const sessions = openSessionStore(redis, sessionTtl, config, log, metrics, noteRecent)
  app.decorate('sessions', sessions)
  if (config.expiredEvents !== 'off') {
    const watcher = startExpiryWatcher(redis, sessions, { keyPrefix: config.redisKeyPrefix, configure: config.expiredEvents === 'configure', log })
    app.addHook('onClose', watcher.close)
  }
  if (options.migrateLegacySessions) {
    app.addHook('onListen', (done) => {
      void migrateInBackground(redis, config.redisKeyPrefix, log)
      done()
    })
  }
}, { name: 'sessions', dependencies: ['config', 'redis', 'session-ttl', 'metrics', 'activity'] })
