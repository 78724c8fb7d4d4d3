import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import type { SessionStore } from './store.js'

/** The notification classes needed: E (keyevent channel) and x (expired). */
const REQUIRED_FLAGS = ['E', 'x']

export interface ExpiryWatcher {
  close(): Promise<void>
}

export interface ExpiryWatcherOptions {
  keyPrefix: string
  /** Add the needed flags to `notify-keyspace-events` if they are missing (CONFIG SET). */
  configure: boolean
  log: Pick<FastifyBaseLogger, 'warn' | 'info'>
}

/**
 * Turns Redis' own expiry of session keys into `expired` events. Redis announces each expired
 * key on `__keyevent@<db>__:expired` (keyspace notifications); every instance listens, and
 * `sessions.expired` lets exactly one of them publish. Pub/Sub delivers only to connected
 * listeners: while no instance runs, expiries go unannounced (the owner key then expires too).
 * Revocation never depends on this: an expired key is gone whether or not anyone hears of it.
 */
export function startExpiryWatcher(redis: Redis, sessions: SessionStore, { keyPrefix, configure, log }: ExpiryWatcherOptions): ExpiryWatcher {
  // A Redis that restarted has its configuration file's flags again: set them at every (re)connect.
  const onReady = () => void enableNotifications(redis, log)
  if (configure) {
    redis.on('ready', onReady)
    if (redis.status === 'ready') onReady()
  }
  // Subscribing takes a connection of its own; ioredis re-subscribes after a reconnect. Nothing
  // here waits for Redis: the app starts (and answers 503) while Redis is away, as it always does.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, lazyConnect: true, commandTimeout: undefined })
  subscriber.on('error', () => {
    // The main client reports Redis outages; this one just reconnects.
  })
  const sessionPrefix = `${keyPrefix}sess:`
  subscriber.on('message', (_channel: string, key: string) => {
    if (!key.startsWith(sessionPrefix)) return
    sessions.expired(key.slice(sessionPrefix.length)).catch((err: Error) => log.warn({ err: err.message }, 'could not publish an expired event'))
  })
  subscriber.connect().catch(() => {})
  subscriber.subscribe(`__keyevent@${redis.options.db ?? 0}__:expired`).catch((err: Error) => log.warn({ err: err.message }, 'could not subscribe to expiry notifications'))
  return {
    async close() {
      redis.off('ready', onReady)
      subscriber.disconnect()
    },
  }
}

async function enableNotifications(redis: Redis, log: ExpiryWatcherOptions['log']): Promise<void> {
  try {
    const [, current = ''] = (await redis.config('GET', 'notify-keyspace-events')) as string[]
    // 'A' stands for every class but key-miss and new, so it includes 'x'.
    const missing = REQUIRED_FLAGS.filter((flag) => !current.includes(flag) && !(flag === 'x' && current.includes('A')))
    if (missing.length === 0) return
    await redis.config('SET', 'notify-keyspace-events', current + missing.join(''))
    log.info({ notifyKeyspaceEvents: current + missing.join('') }, 'enabled Redis keyspace notifications for expired sessions')
  } catch (err) {
    log.warn(
      { err: (err as Error).message },
      'could not enable keyspace notifications (CONFIG is refused on some managed Redis): set notify-keyspace-events to include "Ex" there, or no expired events are published',
    )
  }
}
