import { createHash } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { RedisClient } from '../../src/redis/client.js'
import { migrateLegacySessions } from '../../src/sessions/migrate-layout.js'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_JWT_SECRET } from '../helpers/config.js'
import { sql } from '../helpers/db.js'
import { claimsOf, login, me, newSession, signUp } from '../helpers/http.js'
import { keysOf, scanKeys, sessionKeyOf } from '../helpers/redis.js'

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
  const key = `${prefix}sess:{${user.id}}:${claims.jti}`
  const index = `${prefix}user:{${user.id}}:sessions`
  const createdIndex = `${prefix}user:{${user.id}}:created`
  const owner = `${prefix}owner:{${user.id}}:${claims.jti}`
  const events = `${prefix}events`
  const config = `${prefix}config`
  // Gatehouse's own brute-force counts (not part of the contract): this address's sign-ups, and
  // the login failures of this address and of the account, of which the success took its own
  // attempt back. The count of the account on this network is gone.
  const accountId = createHash('sha256').update(email.toLowerCase()).digest('base64url')
  const throttles = [`${prefix}throttle:signup_ip:127.0.0.1`, `${prefix}throttle:login_ip:127.0.0.1`, `${prefix}throttle:login_account:${accountId}`]
  const knownNetworks = `${prefix}throttle:known_networks:${accountId}`

  t.same((await scanKeys(ctx.redis, prefix)).sort(), [key, index, createdIndex, owner, events, config, knownNetworks, ...throttles].sort(), 'the session, its entries in both indexes, its owner, the event stream and the shared config')
  t.same(await ctx.redis.zrange(createdIndex, '0', '-1', 'WITHSCORES'), [claims.jti, String(claims.created_at)], 'the creation index: the session at its created_at')
  // The first start of this release recorded when untyped tokens stop passing: a start + SESSION_MAX_AGE_SECONDS.
  const untypedUntil = Number(await ctx.redis.hget(config, 'untyped_tokens_until'))
  t.ok(Math.abs(untypedUntil - (Date.now() + ctx.config.sessionMaxAgeSeconds * 1000)) < 60_000, 'config holds untyped_tokens_until, about a maximum age from now')
  const movedAt = Number(await ctx.redis.hget(config, 'shared_secret_sessions_before'))
  t.ok(movedAt > 0 && movedAt <= Date.now(), 'and, signing with a private key, since when: a former HS256 secret reaches only older sessions')
  t.same(Object.keys(await ctx.redis.hgetall(config)).sort(), ['shared_secret_sessions_before', 'untyped_tokens_until'], 'and nothing else until ops set a TTL')
  t.same(await Promise.all(throttles.map((k) => ctx.redis.get(k))), ['1', '0', '0'], 'one sign-up; no login failure')
  t.same(Object.keys(await ctx.redis.hgetall(knownNetworks)), ['127.0.0.0/24'], 'and the network the account logged in from')
  t.equal(await ctx.redis.type(key), 'hash')
  t.equal(await ctx.redis.type(index), 'zset')
  t.equal(await ctx.redis.type(owner), 'string')
  t.equal(await ctx.redis.type(events), 'stream')

  const hash = await ctx.redis.hgetall(key)
  t.same(Object.keys(hash).sort(), ['aud', 'client', 'created_at', 'email', 'email_verified_at', 'generation', 'ip', 'last_seen_at', 'max_expires_at', 'role', 'user_agent', 'user_created_at', 'user_id', 'v'])
  t.equal(hash.aud, '', 'unbound (no JWT-Aud at login): the global policy')
  t.equal(hash.email_verified_at, '', 'empty: the email was not confirmed at login')
  t.equal(hash.v, '3', 'layout version 3')
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
  t.equal(hash.generation, '0', 'generation 0: the user has had no revoke-all')

  const [member, score] = await ctx.redis.zrange(index, '0', '-1', 'WITHSCORES')
  t.equal(member, claims.jti, 'the index holds session ids')
  const expiresAt = await ctx.redis.pexpiretime(key)
  t.equal(Number(score), expiresAt, "the score is the session's expiry, Unix ms")
  t.ok(expiresAt - Number(hash.last_seen_at) <= ctx.config.sessionTtlSeconds * 1000, 'the TTL is the sliding window')
  t.equal(await ctx.redis.pexpiretime(index), expiresAt, 'the index expires with its last session')
  t.equal(await ctx.redis.get(owner), user.id, 'the owner key names the user')
  t.equal(await ctx.redis.pexpiretime(owner), Number(hash.max_expires_at) + 3600_000, 'and outlives the absolute end by an hour')
  const [[, fields]] = (await ctx.redis.xrange(events, '-', '+')) as [string, string[]][] as [[string, string[]]]
  t.same(fields, ['v', '1', 'type', 'created', 'session_id', claims.jti, 'user_id', user.id, 'reason', '', 'client', 'ios'], 'a created event, naming the client the login gave')

  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
  t.same(Object.keys(await ctx.redis.hgetall(key)).sort(), Object.keys(hash).sort(), 'a touch adds no field')
  const touchedExpiry = await ctx.redis.pexpiretime(key)
  t.equal(Number(await ctx.redis.zscore(index, String(claims.jti))), touchedExpiry, 'a touch moves the score with the expiry')

  const everything = JSON.stringify(
    await Promise.all(
      (await scanKeys(ctx.redis, prefix)).map(async (k) => [k, await dump(ctx.redis, k)])
    )
  )
  t.notOk(everything.includes(token), 'the raw token is nowhere in Redis')
  t.notOk(everything.includes(token.split('.')[2]!), 'nor its signature')
})

t.test('a revoke-all leaves the user\'s cutoff and generation, which expire on their own', async (t) => {
  const ctx = await buildTestApp(t)
  const { token, user } = await newSession(ctx)
  const res = await ctx.app.inject({ method: 'DELETE', url: '/sessions?all=true', headers: { authorization: `Token token=${token}` } })
  t.equal(res.statusCode, 200)
  const { cutoff, generation } = { cutoff: keysOf(ctx).cutoff(user.id), generation: keysOf(ctx).generation(user.id) }
  const left = (await scanKeys(ctx.redis, ctx.config.redisKeyPrefix)).filter((key) => !key.includes(':throttle:'))
  const record = `${ctx.config.redisKeyPrefix}user:{${user.id}}:revoked`
  t.same(left.sort(), [cutoff, generation, record, `${ctx.config.redisKeyPrefix}events`, `${ctx.config.redisKeyPrefix}config`].sort(), 'session, owner and both indexes are gone; one record of why is left')
  t.same(await ctx.redis.hgetall(record), { at: await ctx.redis.get(cutoff), reason: 'signed_out_elsewhere', kept: '' }, 'the record: the cutoff it set, why, and no session kept')
  t.ok(await ctx.redis.pttl(record) >= await ctx.redis.pttl(cutoff) - 1000, 'kept as long as the cutoff')
  t.match(await ctx.redis.get(cutoff), /^\d{16}$/, 'Redis time in microseconds')
  t.equal(await ctx.redis.get(generation), await ctx.redis.get(cutoff), 'the same value in both')
  const day = 24 * 3600 * 1000
  t.ok((await ctx.redis.pttl(generation)) > day - 60_000, 'the generation (for logins in flight) is kept a day')
  t.ok((await ctx.redis.pttl(cutoff)) > ctx.config.sessionMaxAgeSeconds * 1000 - 60_000, 'the cutoff as long as a session can live')
})

// Sessions written by older releases, at the key names they used (no hash tags): moved by the
// migration the server runs at start-up. No layout-2 release ran on a Cluster, so there is nothing
// to move there (and the old names would not share a slot).
const onCluster = Boolean(process.env.TEST_REDIS_CLUSTER_NODES) && 'no older layout ever ran on a Cluster'
const legacySigner = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256' })
// Those releases signed with HS256: upgraded, the deployment signs with EdDSA and keeps the secret to verify.
const UPGRADED = { JWT_PREVIOUS_SECRETS: TEST_JWT_SECRET }

t.test('a layout-2 session is moved to its layout-3 keys, with its TTL, owner and index entry, and keeps working', { skip: onCluster }, async (t) => {
  const ctx = await buildTestApp(t, UPGRADED)
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  const prefix = ctx.config.redisKeyPrefix
  const id = 'legacyLayout2Sessio001'
  const now = Date.now()
  // Written by an older release, before this deployment moved to a private key: a minute ago.
  const createdAt = now - 60_000
  const exp = Math.floor(now / 1000) + 3600
  // Exactly what a layout-2 release wrote at login.
  const old = { key: `${prefix}sess:${id}`, owner: `${prefix}owner:${id}`, index: `${prefix}user:${user.id}:sessions` }
  const hash = {
    v: '2',
    user_id: user.id,
    role: 'user',
    created_at: String(createdAt),
    last_seen_at: String(now),
    max_expires_at: String(exp * 1000),
    client: 'ios',
    user_agent: 'Old/1.0',
    ip: '127.0.0.1',
    email: email.toLowerCase(),
    user_created_at: String(Date.parse(user.createdAt)),
  }
  await ctx.redis.hset(old.key, hash)
  await ctx.redis.pexpireat(old.key, now + 60_000)
  await ctx.redis.set(old.owner, user.id, 'PXAT', exp * 1000 + 3600_000)
  await ctx.redis.zadd(old.index, now + 60_000, id)
  const token = legacySigner({ jti: id, user_id: user.id, created_at: createdAt, iat: Math.floor(createdAt / 1000), exp })
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401, 'before the move, layout 3 does not see it')

  t.same(await migrateLegacySessions(ctx.redis, prefix), { moved: 1, dropped: 0, gone: 0 })
  const keys = keysOf(ctx)
  t.same(await ctx.redis.hgetall(keys.session(user.id, id)), { ...hash, v: '3' }, 'the same hash, now v 3')
  t.equal(await ctx.redis.pexpiretime(keys.session(user.id, id)), now + 60_000, 'with its TTL')
  t.equal(await ctx.redis.get(keys.owner(user.id, id)), user.id, 'the owner key moved too')
  t.equal(await ctx.redis.pexpiretime(keys.owner(user.id, id)), exp * 1000 + 3600_000)
  t.same(await ctx.redis.zrange(keys.index(user.id), '0', '-1'), [id], 'indexed under the new name')
  t.same(await Promise.all(Object.values(old).map((k) => ctx.redis.exists(k))), [0, 0, 0], 'the old keys are gone')

  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'the upgrade logged no one out')
  t.same(await migrateLegacySessions(ctx.redis, prefix), { moved: 0, dropped: 0, gone: 0 }, 'running it again finds nothing')
  const logout = await ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { authorization: `Token token=${token}` } })
  t.equal(logout.statusCode, 204)
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401, 'and it ends like any other')
})

t.test('a layout-2 session older than a revoke-all made since the upgrade is dropped, not moved', { skip: onCluster }, async (t) => {
  const ctx = await buildTestApp(t, UPGRADED)
  const { user, token: current } = await newSession(ctx)
  const id = 'legacyLayout2Sessio002'
  const now = Date.now()
  await ctx.redis.hset(`${ctx.config.redisKeyPrefix}sess:${id}`, { v: '2', user_id: user.id, role: 'user', created_at: String(now - 1000), last_seen_at: String(now), max_expires_at: String(now + 3600_000) })
  await ctx.redis.pexpire(`${ctx.config.redisKeyPrefix}sess:${id}`, 60_000)
  // The user logs out everywhere on a layout-3 instance before the migration reached this session.
  const res = await ctx.app.inject({ method: 'DELETE', url: '/sessions?all=true', headers: { authorization: `Token token=${current}` } })
  t.equal(res.statusCode, 200)
  t.same(await migrateLegacySessions(ctx.redis, ctx.config.redisKeyPrefix), { moved: 0, dropped: 1, gone: 0 })
  t.equal(await ctx.redis.exists(`${ctx.config.redisKeyPrefix}sess:${id}`), 0)
  t.equal(await ctx.redis.exists(keysOf(ctx).session(user.id, id)), 0, 'it did not come back')
})

t.test('a layout-1 session (written before roles and devices) is moved, then completed at its first request', { skip: onCluster }, async (t) => {
  const ctx = await buildTestApp(t, UPGRADED)
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  // Written exactly as the first release did: v1 fields, and a token without kid.
  const id = 'legacyLegacyLegacy0001'
  const now = Date.now()
  // Written by an older release, before this deployment moved to a private key: a minute ago.
  const createdAt = now - 60_000
  const exp = Math.floor(now / 1000) + 3600
  const legacyKey = `${ctx.config.redisKeyPrefix}sess:${id}`
  await ctx.redis.hset(legacyKey, { v: '1', user_id: user.id, created_at: String(createdAt), last_seen_at: String(now), max_expires_at: String(exp * 1000) })
  await ctx.redis.pexpire(legacyKey, 60_000)
  const token = legacySigner({ jti: id, user_id: user.id, created_at: createdAt, iat: Math.floor(createdAt / 1000), exp })
  t.same(await migrateLegacySessions(ctx.redis, ctx.config.redisKeyPrefix), { moved: 1, dropped: 0, gone: 0 })
  const key = keysOf(ctx).session(user.id, id)
  t.equal(await ctx.redis.hget(key, 'v'), '1', 'moved as it was: the request completes it')

  const res = await me(ctx.app, `Token token=${token}`)
  t.equal(res.statusCode, 200, 'the upgrade logged no one out')
  t.match(await ctx.redis.hgetall(key), { v: '3', role: 'user', client: '', user_agent: '', ip: '', user_id: user.id, email: email.toLowerCase(), user_created_at: String(Date.parse(user.createdAt)) })
  t.same(await ctx.redis.zrange(keysOf(ctx).index(user.id), '0', '-1'), [id], 'and indexed')
  const sessions = await ctx.app.inject({ method: 'GET', url: '/sessions', headers: { authorization: `Token token=${token}` } })
  t.match(sessions.json().sessions, [{ id, current: true }])

  await login(ctx.app, email)
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'still fine next to a new session')

  t.test('a layout-1 session of a deleted account is ended, not upgraded', async (t) => {
    const gone = await signUp(ctx.app, ctx.email())
    const goneId = 'legacyLegacyLegacy0002'
    await ctx.redis.hset(`${ctx.config.redisKeyPrefix}sess:${goneId}`, { v: '1', user_id: gone.id, created_at: String(createdAt), last_seen_at: String(now), max_expires_at: String(exp * 1000) })
    await ctx.redis.pexpire(`${ctx.config.redisKeyPrefix}sess:${goneId}`, 60_000)
    await migrateLegacySessions(ctx.redis, ctx.config.redisKeyPrefix)
    await sql('DELETE FROM users WHERE id = $1', [gone.id])
    const legacy = legacySigner({ jti: goneId, user_id: gone.id, created_at: createdAt, iat: Math.floor(createdAt / 1000), exp })
    t.equal((await me(ctx.app, `Token token=${legacy}`)).statusCode, 401)
    t.equal(await ctx.redis.exists(keysOf(ctx).session(gone.id, goneId)), 0)
  })
})

t.test('a session from before the performance release (no email) is completed at its next request, then needs no database', async (t) => {
  const ctx = await buildTestApp(t)
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  // Confirmed before the login, so the session records it and GET /me needs nothing else.
  const [{ verified }] = await sql<{ verified: Date }>('UPDATE users SET email_verified_at = now() WHERE id = $1 RETURNING email_verified_at AS verified', [user.id]) as [{ verified: Date }]
  const { token } = await login(ctx.app, email)
  const key = sessionKeyOf(ctx, token)
  t.equal(await ctx.redis.hget(key, 'email_verified_at'), String(verified.getTime()), 'the session records when the email was confirmed')
  await ctx.redis.hdel(key, 'email', 'user_created_at')
  const expected = { id: user.id, email: email.toLowerCase(), role: 'user', created_at: user.createdAt, email_verified_at: verified.toISOString(), createdAt: user.createdAt, emailVerifiedAt: verified.toISOString() }

  const first = await me(ctx.app, `Token token=${token}`)
  t.equal(first.statusCode, 200, 'not logged out by the upgrade')
  t.same(first.json().user, expected, 'the user, read from Postgres this once')
  t.match(await ctx.redis.hgetall(key), { v: '3', email: expected.email, user_created_at: String(Date.parse(user.createdAt)) }, 'and written into the session')

  // From now on GET /me is the session alone: with the row gone (by hand, not through
  // `gatehouse users delete`), it still answers from Redis, and it is the same answer.
  await sql('DELETE FROM users WHERE id = $1', [user.id])
  const second = await me(ctx.app, `Token token=${token}`)
  t.equal(second.statusCode, 200)
  t.same(second.json().user, expected)
})

/** Whatever a key holds, whatever its type. */
async function dump (redis: RedisClient, key: string): Promise<unknown> {
  const type = await redis.type(key)
  if (type === 'hash') return redis.hgetall(key)
  if (type === 'zset') return redis.zrange(key, '0', '-1')
  if (type === 'stream') return redis.xrange(key, '-', '+')
  return redis.get(key)
}
