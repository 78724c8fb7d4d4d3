import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'

export interface RedisClientOptions {
  url: string
  commandTimeoutMs: number
  logger: Pick<FastifyBaseLogger, 'warn' | 'info'>
}

/**
 * A Redis client tuned for an auth hot path. ioredis' defaults would queue commands while Redis
 * is down and retry them for over a minute, so a request could hang, then replay a stale write
 * after reconnecting. Here every command either answers within `commandTimeoutMs` or fails, and
 * the caller turns that into a 503. The client keeps reconnecting in the background on its own.
 */
export function createRedisClient({ url, commandTimeoutMs, logger }: RedisClientOptions): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    // Commands issued in the same tick (concurrent requests' session checks) go out in one write,
    // and while one batch is in flight the next one gathers. Each command still has its own reply,
    // error and timeout. write(2) was the largest single cost of GET /me; this gave about 1.2x its
    // throughput in the bench (docs/performance.md).
    enableAutoPipelining: true,
  })
  let healthy = true
  redis.on('error', (err: Error) => {
    // Log the first error of an outage, not one line per reconnect attempt.
    if (healthy) logger.warn({ err: err.message }, 'redis connection error; reconnecting in the background')
    healthy = false
  })
  redis.on('ready', () => {
    if (!healthy) logger.info('redis connection restored')
    healthy = true
  })
  return redis
}

/** Connects, waiting at most `timeoutMs`; when Redis is not there yet the app still starts and answers 503. */
export async function connectRedis(redis: Redis, timeoutMs: number): Promise<boolean> {
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
