import { createSigner } from 'fast-jwt'
import type { Redis } from 'ioredis'
import t from 'tap'
import { buildTestApp, claimsOf, login, me, newSession, scanKeys, signUp, sql, TEST_JWT_SECRET } from '../helpers.js'

// Pins docs/session-contract.md: other services read these keys with plain Redis commands.
t.test('a session is one Redis hash plus an entry in its user index, exactly as documented', async (t) => {
  const ctx = await buildTestApp(t)
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/sessions',
    headers: { 'user-agent': 'GatehouseTest/1.0 (iPhone)', 'x-client': 'ios' },
    payload: { email, password: 'correct horse battery' },
  })
  const { token } = res.json()
  const claims = claimsOf(token)
  const prefix = ctx.config.redisKeyPrefix
  const key = `${prefix}sess:${claims.jti}`
  const index = `${prefix}user:${user.id}:sessions`
  const owner = `${prefix}owner:${claims.jti}`
  const events = `${prefix}events`
  // Gatehouse's own brute-force counts (not part of the contract): this address's sign-ups, and
  // its login failures, of which the success took its own attempt back. The account's count is gone.
  const throttles = [`${prefix}throttle:signup_ip:127.0.0.1`, `${prefix}throttle:login_ip:127.0.0.1`]

  t.same((await scanKeys(ctx.redis, prefix)).sort(), [key, index, owner, events, ...throttles].sort(), 'the session, its index entry, its owner and the event stream')
  t.same(await Promise.all(throttles.map((k) => ctx.redis.get(k))), ['1', '0'], 'one sign-up; no login failure')
  t.equal(await ctx.redis.type(key), 'hash')
  t.equal(await ctx.redis.type(index), 'zset')
  t.equal(await ctx.redis.type(owner), 'string')
  t.equal(await ctx.redis.type(events), 'stream')

  const hash = await ctx.redis.hgetall(key)
  t.same(Object.keys(hash).sort(), ['client', 'created_at', 'email', 'ip', 'last_seen_at', 'max_expires_at', 'role', 'user_agent', 'user_created_at', 'user_id', 'v'])
  t.equal(hash.v, '2', 'layout version 2')
  t.equal(hash.user_id, user.id)
  t.equal(hash.role, 'user')
  t.equal(hash.client, 'ios')
  t.equal(hash.user_agent, 'GatehouseTest/1.0 (iPhone)')
  t.equal(hash.ip, '127.0.0.1')
  t.equal(hash.email, email.toLowerCase(), 'the email, as stored in Postgres')
  t.equal(hash.user_created_at, String(Date.parse(user.createdAt)), 'when the user signed up, Unix ms')
  t.equal(hash.created_at, String(claims.created_at), 'created_at is the token claim, Unix ms')
  t.equal(hash.max_expires_at, String((claims.exp as number) * 1000), 'max_expires_at is exp in ms')
  t.match(hash.last_seen_at, /^\d{13}$/, 'plain integer milliseconds')

  const [member, score] = await ctx.redis.zrange(index, '0', '-1', 'WITHSCORES')
  t.equal(member, claims.jti, 'the index holds session ids')
  const expiresAt = await ctx.redis.pexpiretime(key)
  t.equal(Number(score), expiresAt, "the score is the session's expiry, Unix ms")
  t.ok(expiresAt - Number(hash.last_seen_at) <= ctx.config.sessionTtlSeconds * 1000, 'the TTL is the sliding window')
  t.equal(await ctx.redis.pexpiretime(index), expiresAt, 'the index expires with its last session')
  t.equal(await ctx.redis.get(owner), user.id, 'the owner key names the user')
  t.equal(await ctx.redis.pexpiretime(owner), Number(hash.max_expires_at) + 3600_000, 'and outlives the absolute end by an hour')
  const [[, fields]] = (await ctx.redis.xrange(events, '-', '+')) as [string, string[]][] as [[string, string[]]]
  t.same(fields, ['v', '1', 'type', 'created', 'session_id', claims.jti, 'user_id', user.id, 'reason', ''], 'a created event')

  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
  t.same(Object.keys(await ctx.redis.hgetall(key)).sort(), Object.keys(hash).sort(), 'a touch adds no field')
  const touchedExpiry = await ctx.redis.pexpiretime(key)
  t.equal(Number(await ctx.redis.zscore(index, String(claims.jti))), touchedExpiry, 'a touch moves the score with the expiry')

  const everything = JSON.stringify(
    await Promise.all(
      (await scanKeys(ctx.redis, prefix)).map(async (k) => [k, await dump(ctx.redis, k)]),
    ),
  )
  t.notOk(everything.includes(token), 'the raw token is nowhere in Redis')
  t.notOk(everything.includes(token.split('.')[2]!), 'nor its signature')
})

t.test('a revoke-all leaves a generation marker that expires on its own', async (t) => {
  const ctx = await buildTestApp(t)
  const { token, user } = await newSession(ctx)
  const res = await ctx.app.inject({ method: 'DELETE', url: '/sessions?all=true', headers: { authorization: `Token token=${token}` } })
  t.equal(res.statusCode, 200)
  const generation = `${ctx.config.redisKeyPrefix}user:${user.id}:generation`
  const left = (await scanKeys(ctx.redis, ctx.config.redisKeyPrefix)).filter((key) => !key.includes(':throttle:'))
  t.same(left.sort(), [generation, `${ctx.config.redisKeyPrefix}events`].sort(), 'session, owner and index are gone')
  t.match(await ctx.redis.get(generation), /^\d{16}$/, 'Redis time in microseconds')
  t.ok((await ctx.redis.pttl(generation)) > 0, 'with a TTL')
})

t.test('a layout-1 session (written before roles and devices) still works and is upgraded', async (t) => {
  const ctx = await buildTestApp(t)
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  // Written exactly as the previous release did: v1 fields, and a token without kid.
  const id = 'legacyLegacyLegacy0001'
  const now = Date.now()
  const exp = Math.floor(now / 1000) + 3600
  const key = `${ctx.config.redisKeyPrefix}sess:${id}`
  await ctx.redis.hset(key, { v: '1', user_id: user.id, created_at: String(now), last_seen_at: String(now), max_expires_at: String(exp * 1000) })
  await ctx.redis.pexpire(key, 60_000)
  const token = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256' })({ jti: id, user_id: user.id, created_at: now, iat: Math.floor(now / 1000), exp })

  const res = await me(ctx.app, `Token token=${token}`)
  t.equal(res.statusCode, 200, 'the upgrade logged no one out')
  t.match(await ctx.redis.hgetall(key), { v: '2', role: 'user', client: '', user_agent: '', ip: '', user_id: user.id, email: email.toLowerCase(), user_created_at: String(Date.parse(user.createdAt)) })
  t.same(await ctx.redis.zrange(`${ctx.config.redisKeyPrefix}user:${user.id}:sessions`, '0', '-1'), [id], 'and indexed')
  const sessions = await ctx.app.inject({ method: 'GET', url: '/sessions', headers: { authorization: `Token token=${token}` } })
  t.match(sessions.json().sessions, [{ id, current: true }])

  await login(ctx.app, email)
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'still fine next to a new session')

  t.test('a layout-1 session of a deleted account is ended, not upgraded', async (t) => {
    const gone = await signUp(ctx.app, ctx.email())
    const legacyKey = `${ctx.config.redisKeyPrefix}sess:legacyLegacyLegacy0002`
    await ctx.redis.hset(legacyKey, { v: '1', user_id: gone.id, created_at: String(now), last_seen_at: String(now), max_expires_at: String(exp * 1000) })
    await ctx.redis.pexpire(legacyKey, 60_000)
    await sql('DELETE FROM users WHERE id = $1', [gone.id])
    const legacy = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256' })({ jti: 'legacyLegacyLegacy0002', user_id: gone.id, created_at: now, iat: Math.floor(now / 1000), exp })
    t.equal((await me(ctx.app, `Token token=${legacy}`)).statusCode, 401)
    t.equal(await ctx.redis.exists(legacyKey), 0)
  })
})

t.test('a session from before the performance release (no email) is completed at its next request, then needs no database', async (t) => {
  const ctx = await buildTestApp(t)
  const { token, user, email } = await newSession(ctx)
  const key = `${ctx.config.redisKeyPrefix}sess:${claimsOf(token).jti}`
  await ctx.redis.hdel(key, 'email', 'user_created_at')
  const expected = { id: user.id, email: email.toLowerCase(), role: 'user', createdAt: user.createdAt }

  const first = await me(ctx.app, `Token token=${token}`)
  t.equal(first.statusCode, 200, 'not logged out by the upgrade')
  t.same(first.json().user, expected, 'the user, read from Postgres this once')
  t.match(await ctx.redis.hgetall(key), { v: '2', email: expected.email, user_created_at: String(Date.parse(user.createdAt)) }, 'and written into the session')

  // From now on GET /me is the session alone: with the row gone (by hand, not through
  // `gatehouse users delete`), it still answers from Redis, and it is the same answer.
  await sql('DELETE FROM users WHERE id = $1', [user.id])
  const second = await me(ctx.app, `Token token=${token}`)
  t.equal(second.statusCode, 200)
  t.same(second.json().user, expected)
})

/** Whatever a key holds, whatever its type. */
async function dump(redis: Redis, key: string): Promise<unknown> {
  const type = await redis.type(key)
  if (type === 'hash') return redis.hgetall(key)
  if (type === 'zset') return redis.zrange(key, '0', '-1')
  if (type === 'stream') return redis.xrange(key, '-', '+')
  return redis.get(key)
}
