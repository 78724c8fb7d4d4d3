import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp, type BuildAppOptions } from '../../src/app.js'
import type { Config, Env } from '../../src/config/index.js'
import { closeRedis, connectRedis, createRedisClient, type RedisClient } from '../../src/redis/client.js'
import { createEventStream } from '../../src/sessions/events.js'
import { createSessionStore, type SessionStore } from '../../src/sessions/store.js'
import { testConfig, uniqueId } from './config.js'
import { deleteUsers } from './db.js'
import { responseChecker } from './openapi.js'
import { adminClient, deleteKeys } from './redis.js'
import { sleep } from './wait.js'

// Building what a test runs against: an app (with its clean-up), a session store, its logs.

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
  checkAnswersAgainstDocument(t, app)
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

/**
 * Every answer the test gets (app.inject or real HTTP) must be one the OpenAPI document describes
 * (test/helpers/openapi.ts); one that is not fails the test that caused it.
 */
function checkAnswersAgainstDocument (t: Test, app: FastifyInstance): void {
  const problemsOf = responseChecker(app)
  app.addHook('onSend', (request, reply, payload, done) => {
    let problems: string[]
    try {
      problems = problemsOf(request, reply, payload)
    } catch (err) {
      problems = [`the check failed: ${(err as Error).stack}`]
    }
    if (problems.length > 0) {
      const message = `${request.method} ${request.url.slice(0, 200)} answered ${reply.statusCode} outside the OpenAPI document: ${problems.join('; ')}`
      try {
        t.fail(message)
      } catch {
        // The test has ended (an answer to a request it did not wait for): fail the file.
        console.error(message)
        process.exitCode = 1
      }
    }
    done(null, payload)
  })
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
 * Gives `user` `count` more sessions, each stored by the script a login uses (create-session-n.lua),
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
