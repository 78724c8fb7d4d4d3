import { Cluster, Redis } from 'ioredis'
import type { Test } from 'tap'
import type { Config } from '../../src/config/index.js'
import { masters, type RedisClient, scanBatches } from '../../src/redis/client.js'
import { sessionKeys } from '../../src/sessions/keys.js'
import type { TestContext } from './app.js'
import { claimsOf, me } from './http.js'
import { eventually } from './wait.js'

// What a test reads in Redis, the way another service would: keys, TTLs, events.

/** A client for the Redis `config` points at, as another service would open one (ioredis defaults). */
export function adminClient (config: Config): RedisClient {
  const target = config.redis
  const client: RedisClient = target.mode === 'cluster'
    ? new Cluster(target.nodes, { scaleReads: 'master' })
    : target.mode === 'sentinel'
      ? new Redis({ sentinels: target.sentinels, name: target.name, maxRetriesPerRequest: 1, lazyConnect: true })
      : new Redis(target.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  // Fault tests stop servers under it: its commands fail, which the test sees; no stray warnings.
  client.on('error', () => {})
  return client
}

export async function deleteKeys (redis: RedisClient, prefix: string): Promise<void> {
  const keys = await scanKeys(redis, prefix)
  // One DEL per key: on a Cluster a multi-key DEL must stay within one slot.
  await Promise.all(keys.map((key) => redis.del(key)))
}

/** Every key under `prefix`, on every primary of a Cluster. */
export async function scanKeys (redis: RedisClient, prefix: string): Promise<string[]> {
  if (redis instanceof Cluster && redis.status !== 'ready') await redis.ping()
  const keys: string[] = []
  for (const node of masters(redis)) {
    for await (const batch of scanBatches(node, `${prefix}*`)) keys.push(...batch)
  }
  return keys
}

/** A test app's key names (docs/session-contract.md, layout 3). */
export const keysOf = (ctx: Pick<TestContext, 'config'>) => sessionKeys(ctx.config.redisKeyPrefix)

/** The Redis key of the session a token stands for. */
export function sessionKeyOf (ctx: Pick<TestContext, 'config'>, token: string): string {
  const claims = claimsOf(token)
  return keysOf(ctx).session(String(claims.user_id), String(claims.jti))
}

/** The session ids in a user's index, read the way another service would. */
export function indexed (ctx: TestContext, userId: string): Promise<string[]> {
  return ctx.redis.zrange(keysOf(ctx).index(userId), '0', '-1')
}

/** Whether a session's hash exists in Redis. */
export async function sessionExists (ctx: TestContext, token: string): Promise<boolean> {
  return (await ctx.redis.exists(sessionKeyOf(ctx, token))) === 1
}

/** Every session hash of a user, found by scanning, not through the index (to check the index). */
export async function sessionsInRedis (ctx: TestContext, userId: string): Promise<Array<{ id: string; createdAt: number }>> {
  const found = []
  for (const key of await scanKeys(ctx.redis, `${ctx.config.redisKeyPrefix}sess:`)) {
    const [owner, createdAt] = await ctx.redis.hmget(key, 'user_id', 'created_at')
    const named = keysOf(ctx).parseSession(key)
    if (owner === userId && named) found.push({ id: named.id, createdAt: Number(createdAt) })
  }
  return found
}

/**
 * Uses the session (each request must succeed) until its key's PTTL is at most `maxMs`, or until
 * one second has passed since `since`: how a TTL change is seen to reach an instance. Returns the
 * last PTTL.
 */
export async function touchUntilTtlAtMost (t: Test, ctx: TestContext, token: string, maxMs: number, since: number): Promise<number> {
  const key = sessionKeyOf(ctx, token)
  let pttl = Infinity
  await eventually(since + 1000 - Date.now(), async () => {
    t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
    pttl = await ctx.redis.pttl(key)
    return pttl <= maxMs
  }, { intervalMs: 50 })
  return pttl
}

/** The entries of the `<prefix>events` stream, as plain objects (what a consumer reads). */
export async function streamEvents (ctx: Pick<TestContext, 'redis' | 'config'>): Promise<Record<string, string>[]> {
  const entries = (await ctx.redis.xrange(`${ctx.config.redisKeyPrefix}events`, '-', '+')) as [string, string[]][]
  return entries.map(([, fields]) => {
    const event: Record<string, string> = {}
    for (let i = 0; i + 1 < fields.length; i += 2) event[fields[i]!] = fields[i + 1]!
    return event
  })
}
