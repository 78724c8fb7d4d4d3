import { generateKeyPairSync } from 'node:crypto'
import { createSessionReader, type SessionReader, type SessionReaderOptions } from '@gatehouse/session-reader'
import t from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { TEST_JWT_SECRET } from '../helpers/config.js'
import { call, claimsOf, newAdmin, newSession, PASSWORD } from '../helpers/http.js'
import { sessionKeyOf } from '../helpers/redis.js'
import { sleep } from '../helpers/wait.js'

// @gatehouse/session-reader against a live Gatehouse: sessions made and ended through the API,
// read as another service reads them (on a Redis Cluster too, under npm run test:cluster).

// Gatehouse signs with EdDSA and the reader holds its public key, except where a test is about HS256.
const signing = generateKeyPairSync('ed25519')
const EDDSA = { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: signing.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() }
const PUBLIC_KEY = signing.publicKey.export({ format: 'pem', type: 'spki' }).toString()

function readerFor (ctx: TestContext, options: Partial<SessionReaderOptions> = {}): SessionReader {
  return createSessionReader({
    redis: ctx.redis,
    keyPrefix: ctx.config.redisKeyPrefix,
    keys: { publicKeys: [PUBLIC_KEY] },
    defaultTtlSeconds: ctx.config.sessionTtlSeconds,
    ...options,
  })
}

async function loginAs (ctx: TestContext, email: string, headers: Record<string, string> = {}) {
  const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'x-client': 'ios', 'user-agent': 'Gatehouse/1.0', ...headers }, payload: { email, password: PASSWORD } })
  t.equal(res.statusCode, 201, res.body)
  return res.json().token as string
}

t.test('a session made through the API reads as live, with its user, role and device; logged out, it says so', async (t) => {
  const ctx = await buildTestApp(t, EDDSA)
  const reader = readerFor(ctx)
  const { user, email } = await newSession(ctx)
  const token = await loginAs(ctx, email)

  const result = await reader.read(token)
  if (!result.live) throw t.fail(`not live: ${result.reason}`)
  const { session } = result
  const hash = await ctx.redis.hgetall(sessionKeyOf(ctx, token))
  t.match(session, {
    userId: user.id,
    sessionId: claimsOf(token).jti,
    role: 'user',
    layout: 3,
    client: 'ios',
    userAgent: 'Gatehouse/1.0',
    ip: '127.0.0.1',
    email,
    audience: null,
    createdAt: Number(hash.created_at),
    lastSeenAt: Number(hash.last_seen_at),
    maxExpiresAt: Number(hash.max_expires_at),
  })
  t.ok(session.expiresAt > Date.now() && session.expiresAt <= session.lastSeenAt + ctx.config.sessionTtlSeconds * 1000, 'expiresAt is within the sliding window')

  const admin = await newAdmin(ctx)
  t.match(await reader.read(admin.token), { live: true, session: { role: 'admin', userId: admin.user.id } })

  t.equal((await call(ctx.app, 'DELETE', '/sessions/current', token)).statusCode, 204)
  t.same(await reader.read(token), { live: false, reason: 'logged_out' }, 'its own logout, as Gatehouse tells it')
})

t.test('reading never extends: the TTL and last_seen_at are as Gatehouse left them', async (t) => {
  const ctx = await buildTestApp(t, EDDSA)
  const reader = readerFor(ctx)
  const { token } = await newSession(ctx)
  const key = sessionKeyOf(ctx, token)
  const [before, expiry] = [await ctx.redis.hgetall(key), await ctx.redis.pexpiretime(key)]
  await sleep(1100)
  for (let i = 0; i < 5; i++) t.equal((await reader.read(token)).live, true)
  t.same(await ctx.redis.hgetall(key), before)
  t.equal(await ctx.redis.pexpiretime(key), expiry)
})

t.test('ops shorten the TTL: a session idle longer than the new one is idle at once, though its key lives on', async (t) => {
  const ctx = await buildTestApp(t, EDDSA)
  const { token } = await newSession(ctx)
  const admin = await newAdmin(ctx)
  await sleep(1500) // the session is idle for longer than the TTL about to be set
  t.equal((await call(ctx.app, 'PUT', '/admin/settings/session-ttl', admin.token, { ttl_seconds: 1 })).statusCode, 200)
  const reader = readerFor(ctx) // a fresh reader: no TTL cached from before the change
  t.same(await reader.read(token), { live: false, reason: 'idle' })
  t.equal(await ctx.redis.exists(sessionKeyOf(ctx, token)), 1, 'its key still exists')
})

t.test('a revoke-all: revoked at once (the cutoff), then gone with its key', async (t) => {
  const ctx = await buildTestApp(t, EDDSA)
  const reader = readerFor(ctx)
  const { token, email } = await newSession(ctx)
  const other = await loginAs(ctx, email)
  // Logout everywhere but here: the other session ends.
  t.equal((await call(ctx.app, 'DELETE', '/sessions', token)).statusCode, 200)
  t.match(await reader.read(token), { live: true })
  t.same(await reader.read(other), { live: false, reason: 'revoked', cause: 'signed_out_elsewhere' })
  // The cutoff alone, before any key is deleted (what a reader sees mid-revocation):
  const third = await loginAs(ctx, email)
  const userId = String(claimsOf(third).user_id)
  await ctx.redis.set(`${ctx.config.redisKeyPrefix}user:{${userId}}:cutoff`, String(Date.now() * 1000 + 1000_000))
  t.same(await reader.read(third), { live: false, reason: 'revoked' })
})

t.test('HS256, a rotated secret: tokens of the old one still verify with JWT_PREVIOUS_SECRETS, and not without', async (t) => {
  const before = await buildTestApp(t, { JWT_ALGORITHM: 'HS256', JWT_SECRET: TEST_JWT_SECRET })
  const { email } = await newSession(before)
  const oldToken = await loginAs(before, email)
  const newSecret = 'gatehouse-rotated-secret-0123456789abcdef012345'
  const after = await buildTestApp(t, { JWT_ALGORITHM: 'HS256', JWT_SECRET: newSecret, JWT_PREVIOUS_SECRETS: TEST_JWT_SECRET, REDIS_KEY_PREFIX: before.config.redisKeyPrefix })
  const newToken = await loginAs(after, email)

  const rotated = readerFor(after, { keys: { unsafeSharedSecrets: [newSecret, TEST_JWT_SECRET] } })
  t.match(await rotated.read(oldToken), { live: true })
  t.match(await rotated.read(newToken), { live: true })
  const newOnly = readerFor(after, { keys: { unsafeSharedSecrets: [newSecret] } })
  t.same(await newOnly.read(oldToken), { live: false, reason: 'invalid_token' }, 'once the old secret is dropped')
  t.match(await newOnly.read(newToken), { live: true })
})

t.test('a token bound to an audience at login reads only with that audience', async (t) => {
  const ctx = await buildTestApp(t, EDDSA)
  const reader = readerFor(ctx)
  const { email } = await newSession(ctx)
  const token = await loginAs(ctx, email, { 'jwt-aud': 'ios-app' })
  t.equal(claimsOf(token).aud, 'ios-app')
  t.match(await reader.read(token, { audience: 'ios-app' }), { live: true, session: { audience: 'ios-app' } })
  t.same(await reader.read(token), { live: false, reason: 'wrong_audience' })
  t.same(await reader.read(token, { audience: 'IOS-APP' }), { live: false, reason: 'wrong_audience' }, 'compared exactly')
})

t.test('another issuer: refused by the reader, as by Gatehouse', async (t) => {
  const ctx = await buildTestApp(t, { ...EDDSA, JWT_ISSUER: 'https://auth.example.com' })
  const { email } = await newSession(ctx)
  const token = await loginAs(ctx, email)
  t.equal(claimsOf(token).iss, 'https://auth.example.com')
  t.match(await readerFor(ctx, { issuer: 'https://auth.example.com' }).read(token), { live: true })
  t.same(await readerFor(ctx).read(token), { live: false, reason: 'invalid_token' }, 'a reader expecting the default issuer')
})
