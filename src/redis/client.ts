import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { Log } from '../shared/log.js'
import type { RedisTarget } from '../config/index.js'

/** One server, a Sentinel-managed primary (both a `Redis`) or a Cluster: every caller takes either. */
export type RedisClient = Redis | Cluster

/** Reconnect delay after `attempt` failures, in every mode: quick at first, never over 2 s. */
const backoff = (attempt: number) => Math.min(attempt * 200, 2000)

export interface RedisClientOptions {
  target: RedisTarget
  commandTimeoutMs: number
  logger: Log
}

/**
 * A Redis client tuned for an auth hot path, the same in all three modes. ioredis' defaults would
 * queue commands while Redis is down and retry them for over a minute, so a request could hang,
 * then replay a stale write after reconnecting. Here every command either answers within
 * `commandTimeoutMs` or fails, and the caller turns that into a 503. The client keeps reconnecting
 * in the background on its own: to the same server, to whichever server the Sentinels now name
 * primary, or to the Cluster's new slot owners after a failover.
 */
export function createRedisClient ({ target, commandTimeoutMs, logger }: RedisClientOptions): RedisClient {
  const common = {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    // Commands issued in the same tick (concurrent requests' session checks) go out in one write,
    // and while one batch is in flight the next one gathers. Each command still has its own reply,
    // error and timeout. A write(2) per command was the largest cost of GET /me in the profile
    // (docs/performance.md). A Cluster batches per node.
    enableAutoPipelining: true,
    // Scripts whose first argument is not a key keep themselves out of it when they are defined
    // (autoPipeliningIgnoredCommands: sessions/scripts/index.ts).
  }
  const connection: RedisOptions = {
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: backoff,
  }
  let redis: RedisClient
  if (target.mode === 'cluster') {
    redis = new Cluster(target.nodes, {
      ...common,
      redisOptions: { ...connection, username: target.username, password: target.password },
      // Reads and writes go to the primaries: a replica may lag, and a logged-out session must
      // never read as live.
      scaleReads: 'master',
      clusterRetryStrategy: backoff,
      // During a failover a slot has no owner for a moment: fail the command (503) rather than
      // wait on it, as in the other modes. MOVED/ASK redirections after it are followed.
      retryDelayOnClusterDown: 0,
      retryDelayOnFailover: 100,
      slotsRefreshTimeout: 2000,
    })
  } else if (target.mode === 'sentinel') {
    redis = new Redis({
      ...common,
      ...connection,
      sentinels: target.sentinels,
      name: target.name,
      role: 'master',
      username: target.username,
      password: target.password,
      sentinelPassword: target.sentinelPassword,
      sentinelRetryStrategy: backoff,
      // No failoverDetector: a dead primary already breaks the connection, and the reconnect asks
      // the Sentinels; the detector then reconnected a second time, a second burst of 503s.
    })
  } else {
    redis = new Redis(target.url, { ...common, ...connection })
  }
  let healthy = true
  redis.on('error', (err: Error) => {
    // Log the first error of an outage, not one line per reconnect attempt.
    if (healthy) logger.warn({ err: err.message }, 'redis connection error; reconnecting in the background')
    healthy = false
  })
  redis.on('ready', () => {
    if (!healthy) logger.info({}, 'redis connection restored')
    healthy = true
  })
  return redis
}

/** Connects, waiting at most `timeoutMs`; when Redis is not there yet the app still starts and answers 503. */
export async function connectRedis (redis: RedisClient, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true
  const ready = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs)
    redis.once('ready', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
  redis.connect().catch(() => {
    // Reported through the 'error' event; the retry strategy keeps trying.
  })
  return ready
}

/**
 * Runs `work` on every primary: SCAN, CONFIG and keyspace notifications are per server, and a
 * Cluster spreads the keys over several. One server (or a Sentinel-managed primary) is its own.
 */
export async function forEachMaster<T> (redis: RedisClient, work: (node: Redis) => Promise<T>): Promise<T[]> {
  return Promise.all(masters(redis).map(work))
}

/** The keys of one server that match `pattern`, a SCAN batch at a time (SCAN is per server: see forEachMaster). */
export async function * scanBatches (node: Redis, pattern: string): AsyncGenerator<string[]> {
  let cursor = '0'
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    yield keys
  } while (cursor !== '0')
}

export function masters (redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis]
}

/** Closes the client: politely when connected, at once otherwise. */
export async function closeRedis (redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect())
  else redis.disconnect()
}
