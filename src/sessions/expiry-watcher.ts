import type { Log } from '../shared/log.js'
import { Cluster, type Redis } from 'ioredis'
import { masters, type RedisClient } from '../redis/client.js'
import { sessionKeys } from './keys.js'
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
  log: Log
}

/**
 * Turns Redis' own expiry of session keys into `expired` events. Redis announces each expired
 * key on `__keyevent@<db>__:expired` (keyspace notifications); every instance listens, and
 * `sessions.expired` lets exactly one of them publish (the key's name says whose session it was).
 * Pub/Sub delivers only to connected listeners: while no instance runs, expiries go unannounced
 * (the owner key then expires too).
 * Revocation never depends on this: an expired key is gone whether or not anyone hears of it.
 */
export function startExpiryWatcher (redis: RedisClient, sessions: SessionStore, { keyPrefix, configure, log }: ExpiryWatcherOptions): ExpiryWatcher {
  const keys = sessionKeys(keyPrefix)
  const onExpired = (_channel: string, key: string) => {
    const session = keys.parseSession(key)
    if (!session) return
    sessions.expired(session.id, session.userId).catch((err: Error) => log.warn({ err: err.message }, 'could not publish an expired event'))
  }
  // Notifications are per server. One server, or a Sentinel-managed primary, is one source: its
  // subscriber follows the primary through a failover as the main client does. A Cluster's
  // primaries each announce their own keys' expiry: listen to every one, and to new ones (a
  // promoted replica, an added shard) whenever the client refreshes its view of the slots.
  const listeners = new Map<string, { node: Redis; subscriber: Redis; onReady: () => void }>()
  const listen = (node: Redis) => {
    const onReady = () => { if (configure) void enableNotifications(node, log) }
    node.on('ready', onReady)
    if (node.status === 'ready') onReady()
    listeners.set(nodeName(node), { node, subscriber: subscribe(node, onExpired, log), onReady })
  }
  const forget = (name: string) => {
    const listener = listeners.get(name)
    if (!listener) return
    listener.node.off('ready', listener.onReady)
    listener.subscriber.disconnect()
    listeners.delete(name)
  }
  const follow = () => {
    const current = new Map(masters(redis).map((node) => [nodeName(node), node]))
    for (const [name, node] of current) if (!listeners.has(name)) listen(node)
    for (const name of [...listeners.keys()]) if (!current.has(name)) forget(name)
  }
  if (redis instanceof Cluster) {
    redis.on('refresh', follow)
    follow()
  } else {
    listen(redis)
  }
  return {
    async close () {
      redis.off('refresh', follow)
      for (const name of [...listeners.keys()]) forget(name)
    },
  }
}

const nodeName = (node: Redis) => `${node.options.host}:${node.options.port}`

/**
 * Subscribing takes a connection of its own; ioredis re-subscribes after a reconnect. Nothing here
 * waits for Redis: the app starts (and answers 503) while Redis is away, as it always does.
 */
function subscribe (node: Redis, onMessage: (channel: string, key: string) => void, log: ExpiryWatcherOptions['log']): Redis {
  const subscriber = node.duplicate({
    enableOfflineQueue: true, maxRetriesPerRequest: null, lazyConnect: true, commandTimeout: undefined, enableAutoPipelining: false,
  })
  subscriber.on('error', () => {
    // The main client reports Redis outages; this one just reconnects.
  })
  subscriber.on('message', onMessage)
  subscriber.connect().catch(() => {})
  subscriber.subscribe(`__keyevent@${node.options.db ?? 0}__:expired`).catch((err: Error) => log.warn({ err: err.message }, 'could not subscribe to expiry notifications'))
  return subscriber
}

async function enableNotifications (redis: Redis, log: ExpiryWatcherOptions['log']): Promise<void> {
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
      'could not enable keyspace notifications (CONFIG is refused on some managed Redis): set notify-keyspace-events to include "Ex" there, or no expired events are published'
    )
  }
}
