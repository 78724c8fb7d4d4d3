import { createSigner } from 'fast-jwt'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_JWT_SECRET } from '../helpers/config.js'
import { me, signUp } from '../helpers/http.js'
import { keysOf } from '../helpers/redis.js'
import { cliEnv, gatehouse } from './run-cli.js'

// `gatehouse sessions migrate`: what an operator runs to move (or check for) sessions a layout-2
// release wrote. The server does the same at start-up; redis-layout.test.ts covers the moves.
t.test('gatehouse sessions migrate moves layout-2 sessions, says how many, and finds none the second time', { skip: Boolean(process.env.TEST_REDIS_CLUSTER_NODES) && 'no older layout ran on a Cluster' }, async (t) => {
  // That release signed with HS256; upgraded, the deployment keeps the secret to verify.
  const ctx = await buildTestApp(t, { JWT_PREVIOUS_SECRETS: TEST_JWT_SECRET })
  const cwd = t.testdir({})
  const env = cliEnv(ctx.config)
  const user = await signUp(ctx.app, ctx.email())
  const now = Date.now()
  // Written by an older release, before this deployment moved to a private key: a minute ago.
  const createdAt = now - 60_000
  const exp = Math.floor(now / 1000) + 3600
  const ids = ['cliMigrateLayout2ses01', 'cliMigrateLayout2ses02']
  for (const id of ids) {
    const key = `${ctx.config.redisKeyPrefix}sess:${id}`
    await ctx.redis.hset(key, { v: '2', user_id: user.id, role: 'user', created_at: String(createdAt), last_seen_at: String(now), max_expires_at: String(exp * 1000), client: '', user_agent: '', ip: '' })
    await ctx.redis.pexpire(key, 60_000)
  }

  const first = await gatehouse(['sessions', 'migrate'], env, cwd)
  t.equal(first.code, 0, first.stderr)
  t.equal(first.stdout.trim(), 'layout-2 sessions: 2 moved to layout 3, 0 dropped (revoked since), 0 gone meanwhile')
  for (const id of ids) t.equal(await ctx.redis.hget(keysOf(ctx).session(user.id, id), 'v'), '3', `${id} is at its layout-3 name`)
  const token = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256' })({ jti: ids[0], user_id: user.id, created_at: createdAt, iat: Math.floor(createdAt / 1000), exp })
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'and works')

  const again = await gatehouse(['sessions', 'migrate'], env, cwd)
  t.equal(again.stdout.trim(), 'layout-2 sessions: 0 moved to layout 3, 0 dropped (revoked since), 0 gone meanwhile')

  const extra = await gatehouse(['sessions', 'migrate', 'now'], env, cwd)
  t.equal(extra.code, 2)
  t.match(extra.stderr, /sessions migrate takes no arguments/)
  const noRedis = await gatehouse(['sessions', 'migrate'], { ...env, REDIS_URL: 'redis://127.0.0.1:1' }, cwd)
  t.equal(noRedis.code, 1)
  t.match(noRedis.stderr, /^gatehouse: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/)
})
