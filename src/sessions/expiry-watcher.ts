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
export async function startExpiryWatcher(redis: Redis, sessions: SessionStore, { keyPrefix, configure, log }: ExpiryWatcherOptions): Promise<ExpiryWatcher> {
  if (configure) await enableNotifications(redis, log)
  // Subscribing takes a connection of its own; ioredis re-subscribes after a reconnect.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: true, commandTimeout: undefined })
  subscriber.on('error', () => {
    // The main client reports Redis outages; this one just reconnects.
  })
  const sessionPrefix = `${keyPrefix}sess:`
  subscriber.on('message', (_channel: string, key: string) => {
    if (!key.startsWith(sessionPrefix)) return
    sessions.expired(key.slice(sessionPrefix.length)).catch((err: Error) => log.warn({ err: err.message }, 'could not publish an expired event'))
  })
  const db = redis.options.db ?? 0
  await subscriber.connect().catch(() => {})
  await subscriber.subscribe(`__keyevent@${db}__:expired`).catch((err: Error) => log.warn({ err: err.message }, 'could not subscribe to expiry notifications; will retry on reconnect'))
  return {
    async close() {
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
