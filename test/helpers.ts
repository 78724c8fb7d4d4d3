import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { Cluster, Redis } from 'ioredis'
import pg from 'pg'
import type { Test } from 'tap'
import { buildApp, type BuildAppOptions } from '../src/app.js'
import { type Config, type Env, loadConfig } from '../src/config/index.js'
import { closeRedis, connectRedis, createRedisClient, masters, type RedisClient, scanBatches } from '../src/redis/client.js'
import { createEventStream } from '../src/sessions/events.js'
import { sessionKeys } from '../src/sessions/keys.js'
import { createSessionStore, type SessionStore } from '../src/sessions/store.js'

/** Tests never touch the service's own data: their own database, and a key prefix per test app. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres:postgres@127.0.0.1:5432/gatehouse_test'
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
/**
 * Set by `npm run test:cluster` (scripts/test-cluster.mjs): the session suite then runs against a
 * real Redis Cluster, unless a test picks its own Redis (REDIS_URL or REDIS_SENTINELS in `env`).
 */
export const TEST_REDIS_CLUSTER_NODES = process.env.TEST_REDIS_CLUSTER_NODES ?? ''
export const TEST_JWT_SECRET = 'gatehouse-test-secret-0123456789abcdef0123456789'
export const PASSWORD = 'correct horse battery'

export const uniqueId = () => randomBytes(6).toString('hex')

/**
 * A validated config for tests: silent logs, a fresh key prefix, brute-force limits far above
 * what a test file does (test/http/throttling.test.ts runs with the real ones); `env` overrides
 * anything ('' means the default).
 *
 * bcrypt runs at cost 4 unless `env.BCRYPT_COST` says otherwise: BCRYPT_COST refuses anything
 * below 10, so the tests set the field directly, and no setting lets a deployment do the same.
 */
export function testConfig (env: Env = {}): Config {
  const { BCRYPT_COST: cost, ...rest } = env
  const ownRedis = env.REDIS_URL !== undefined || env.REDIS_SENTINELS !== undefined || env.REDIS_CLUSTER_NODES !== undefined
  const config = loadConfig({
    DATABASE_URL: TEST_DATABASE_URL,
    ...(ownRedis ? {} : TEST_REDIS_CLUSTER_NODES ? { REDIS_CLUSTER_NODES: TEST_REDIS_CLUSTER_NODES } : { REDIS_URL: TEST_REDIS_URL }),
    REDIS_KEY_PREFIX: `gatehouse-test:${uniqueId()}:`,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    // Expired events need keyspace notifications, which are the shared Redis' own setting: only
    // test/sessions/events.test.ts turns them on, on a Redis of its own.
    EXPIRED_EVENTS: 'off',
    LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: '1000',
    LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000',
    LOGIN_MAX_FAILURES_PER_IP: '100000',
    SIGNUP_MAX_PER_IP: '100000',
    ...rest,
  }).config
  return { ...config, bcryptCost: cost === undefined ? TEST_BCRYPT_COST : Number(cost) }
}

/** Cheap hashes for the tests (see testConfig). */
export const TEST_BCRYPT_COST = 4

export interface TestContext {
  app: FastifyInstance
  config: Config
  /** A plain client for reading Redis the way another service would (a Cluster client on a cluster). */
  redis: RedisClient
  /** A fresh email on this test's own domain (deleted at teardown). */
  email(): string
}

/** Builds an app the way the server does, and cleans up its users and Redis keys afterwards. */
export async function buildTestApp (t: Test, env: Env = {}, options: BuildAppOptions = { logger: false }): Promise<TestContext> {
  const config = testConfig(env)
  const app = await buildApp(config, options)
  const redis = adminClient(config)
  const domain = `${uniqueId()}.test.gatehouse`
  t.teardown(async () => {
    await app.close()
    // Bounded: a fault test may have taken the server away (or moved the primary) under the client.
    await Promise.race([deleteKeys(redis, config.redisKeyPrefix).catch(() => {}), sleep(5000)])
    redis.disconnect()
    await deleteUsers(domain)
  })
  return { app, config, redis, email: () => `${uniqueId()}@${domain}` }
}

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

/** Runs one statement on its own connection (tests read and arrange Postgres directly through this). */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow> (query: string, params: unknown[] = [], url = TEST_DATABASE_URL): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(query, params)).rows
  } finally {
    await client.end()
  }
}

async function deleteUsers (domain: string): Promise<void> {
  await sql('DELETE FROM users WHERE email LIKE $1', [`%@${domain}`])
}

export async function signUp (app: FastifyInstance, email: string, password = PASSWORD) {
  const res = await app.inject({ method: 'POST', url: '/users', payload: { email, password } })
  if (res.statusCode !== 201) throw new Error(`sign-up failed: ${res.statusCode} ${res.body}`)
  return res.json().user as { id: string; email: string; createdAt: string }
}

export async function login (app: FastifyInstance, email: string, password = PASSWORD) {
  const res = await app.inject({ method: 'POST', url: '/sessions', payload: { email, password } })
  if (res.statusCode !== 201) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json() as { user: { id: string; email: string }; token: string }
}

/** Signs up a fresh user and logs in. */
export async function newSession (ctx: TestContext) {
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  const { token } = await login(ctx.app, email)
  return { user, token, email }
}

export function me (app: FastifyInstance, authorization?: string) {
  return app.inject({ method: 'GET', url: '/me', headers: authorization === undefined ? {} : { authorization } })
}

/** The claims of a token, decoded without verification (as a test, or another service, would). */
export function claimsOf (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** An authenticated request with `Authorization: Token token=<token>`. */
export function call (app: FastifyInstance, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token: string, payload?: object) {
  return app.inject({ method, url, headers: { authorization: `Token token=${token}` }, ...(payload === undefined ? {} : { payload }) })
}

/** Makes a user admin directly in Postgres (the CLI and the API have their own tests), then logs in. */
export async function newAdmin (ctx: TestContext) {
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  await sql('UPDATE users SET role = \'admin\' WHERE id = $1', [user.id])
  const { token } = await login(ctx.app, email)
  return { user, token, email }
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

/** Fastify logger options that keep every JSON log line in `lines`, as the server would print them. */
export function captureLogs (level = 'trace') {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  return { lines, logger: { level, stream } }
}

/**
 * Uses the session (each request must succeed) until its key's PTTL is at most `maxMs`, or until
 * one second has passed since `since`: how a TTL change is seen to reach an instance. Returns the
 * last PTTL.
 */
export async function touchUntilTtlAtMost (t: Test, ctx: TestContext, token: string, maxMs: number, since: number): Promise<number> {
  const key = sessionKeyOf(ctx, token)
  let pttl = Infinity
  while (Date.now() - since < 1000) {
    t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
    pttl = await ctx.redis.pttl(key)
    if (pttl <= maxMs) break
    await sleep(50)
  }
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

/**
 * The session store of a test app, as a second instance would build it: its own client, the same
 * scripts, keys, TTL and events. For tests that work at the level of the store (or need many
 * sessions without as many HTTP logins).
 */
export async function storeOf (t: Test, ctx: Pick<TestContext, 'config'>, { publish = true } = {}): Promise<SessionStore> {
  const { config } = ctx
  const quiet = { warn: () => {}, info: () => {} }
  const redis = createRedisClient({ target: config.redis, commandTimeoutMs: 10_000, logger: quiet })
  t.teardown(() => closeRedis(redis))
  await connectRedis(redis, 5000)
  return createSessionStore(redis, {
    keyPrefix: config.redisKeyPrefix,
    ttlSeconds: () => config.sessionTtlSeconds,
    maxAgeSeconds: config.sessionMaxAgeSeconds,
    maxPerUser: config.sessionMaxPerUser,
    // publish: false, for filling Redis with sessions fast (no stream entry per login).
    events: publish ? createEventStream(redis, { keyPrefix: config.redisKeyPrefix, maxLength: config.eventsMaxLength, log: quiet }) : async () => {},
  })
}

/**
 * Gives `user` `count` more sessions, each stored by the script a login uses (create-session.lua),
 * `concurrency` at a time. Returns their ids.
 */
export async function addSessions (store: SessionStore, user: { id: string; email: string; createdAt: string }, count: number, concurrency = 500): Promise<string[]> {
  const ids: string[] = []
  const device = { client: 'bulk', userAgent: 'addSessions', ip: '127.0.0.1' }
  while (ids.length < count) {
    const generation = await store.generation(user.id)
    const batch = await Promise.all(
      Array.from({ length: Math.min(concurrency, count - ids.length) }, () =>
        store.create({ userId: user.id, role: 'user', email: user.email, userCreatedAt: Date.parse(user.createdAt), device, generation }))
    )
    for (const session of batch) if (session) ids.push(session.id)
  }
  return ids
}
