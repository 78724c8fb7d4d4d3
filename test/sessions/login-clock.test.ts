import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { sql } from '../helpers/db.js'
import { call, claimsOf, me, newAdmin, PASSWORD, signUp } from '../helpers/http.js'
import { sessionKeyOf } from '../helpers/redis.js'
import { codeOf, readMailFile } from '../helpers/smtp.js'
import { eventually } from '../helpers/wait.js'

// The session's clock in the login answer (expires_at, max_expires_at, idle_timeout_seconds), so
// that an app knows when its session ends; POST /users with sign_in, which answers as a login; and
// the verified state of the email (REQUIRE_VERIFIED_EMAIL, GET /me).

const ORIGIN = 'https://app.example.com'
const CLOCK_FIELDS = ['expires_at', 'idle_timeout_seconds', 'max_expires_at']

const loginAs = (ctx: TestContext, email: string, password = PASSWORD, headers: Record<string, string> = {}, extra: object = {}) =>
  ctx.app.inject({ method: 'POST', url: '/sessions', headers, payload: { email, password, ...extra } })

const signUpWith = (ctx: TestContext, payload: object, headers: Record<string, string> = {}) =>
  ctx.app.inject({ method: 'POST', url: '/users', headers, payload: { password: PASSWORD, ...payload } })

async function usersWithEmail (email: string): Promise<number> {
  return Number((await sql<{ n: string }>('SELECT count(*) AS n FROM users WHERE email = $1', [email]))[0]!.n)
}

/**
 * The clock of a 201 checked against what Redis holds: the idle timeout in force, the token's
 * exp, and the session hash's own expiry (read as PTTL, so within the 2 s a round trip may take).
 */
async function checkClock (t: Test, ctx: TestContext, res: LightMyRequestResponse, token: string, ttlSeconds: number) {
  const body = res.json()
  const claims = claimsOf(token)
  const expiresAt = Date.parse(body.expires_at)
  const maxExpiresAt = Date.parse(body.max_expires_at)
  t.equal(body.idle_timeout_seconds, ttlSeconds, 'idle_timeout_seconds: the TTL in force')
  t.equal(maxExpiresAt, Number(claims.exp) * 1000, 'max_expires_at: the token\'s exp')
  t.equal(expiresAt, Math.min(Number(claims.created_at) + ttlSeconds * 1000, maxExpiresAt), 'expires_at: the session\'s creation plus the TTL')
  const pttl = await ctx.redis.pttl(sessionKeyOf(ctx, token))
  t.ok(pttl > 0, 'the session hash exists and expires')
  t.ok(Math.abs(expiresAt - (Date.now() + pttl)) < 2000, `expires_at is when Redis will expire the hash (off by ${expiresAt - (Date.now() + pttl)} ms)`)
  t.ok(expiresAt <= maxExpiresAt, 'never after max_expires_at')
  return { expiresAt, maxExpiresAt }
}

t.test('POST /sessions answers the session\'s clock', async (t) => {
  const ctx = await buildTestApp(t)
  const email = ctx.email()
  await signUp(ctx.app, email)
  const res = await loginAs(ctx, email)
  t.equal(res.statusCode, 201)
  t.same(Object.keys(res.json()).sort(), [...CLOCK_FIELDS, 'token', 'user'].sort())
  const { expiresAt, maxExpiresAt } = await checkClock(t, ctx, res, res.json().token, ctx.config.sessionTtlSeconds)
  // Rounded down to a whole second, as the token's exp is (create-session-n.lua).
  const lifetime = maxExpiresAt - Number(claimsOf(res.json().token).created_at)
  t.ok(lifetime > (ctx.config.sessionMaxAgeSeconds - 1) * 1000 && lifetime <= ctx.config.sessionMaxAgeSeconds * 1000, `max_expires_at: creation plus SESSION_MAX_AGE_SECONDS, to the second (${lifetime} ms)`)
  t.ok(expiresAt < maxExpiresAt, 'the idle end comes first with the defaults')
  t.match(res.json().expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ISO 8601, as every time in the API')
})

t.test('after ops change the TTL, the next login tells the new idle timeout, on every instance', async (t) => {
  const a = await buildTestApp(t)
  const b = await buildTestApp(t, { REDIS_KEY_PREFIX: a.config.redisKeyPrefix })
  const admin = await newAdmin(a)
  const email = a.email()
  await signUp(a.app, email)
  t.equal((await loginAs(a, email)).json().idle_timeout_seconds, a.config.sessionTtlSeconds, 'the default before')

  const set = await call(a.app, 'PUT', '/admin/settings/session-ttl', admin.token, { ttl_seconds: 600 })
  t.equal(set.statusCode, 200)
  const onA = await loginAs(a, email)
  t.equal(onA.statusCode, 201)
  await checkClock(t, a, onA, onA.json().token, 600)

  // Another instance re-reads the setting every 500 ms (session-ttl.ts): within a second.
  let onB: LightMyRequestResponse | undefined
  const seen = await eventually(1500, async () => {
    onB = await loginAs(b, email)
    return onB.json().idle_timeout_seconds === 600
  }, { intervalMs: 50 })
  t.ok(seen, 'instance B answers the new TTL within a second')
  await checkClock(t, b, onB!, onB!.json().token, 600)
})

t.test('expires_at never passes max_expires_at', async (t) => {
  t.test('SESSION_TTL_SECONDS=600, SESSION_MAX_AGE_SECONDS=700: the idle end comes 100 s earlier', async (t) => {
    const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '600', SESSION_MAX_AGE_SECONDS: '700' })
    const email = ctx.email()
    await signUp(ctx.app, email)
    const res = await loginAs(ctx, email)
    const { expiresAt, maxExpiresAt } = await checkClock(t, ctx, res, res.json().token, 600)
    // 100 s, less the part of a second max_expires_at is rounded down by.
    t.ok(maxExpiresAt - expiresAt > 99_000 && maxExpiresAt - expiresAt <= 100_000, `${maxExpiresAt - expiresAt} ms apart`)
  })

  t.test('a TTL equal to the lifetime: both ends are the same instant', async (t) => {
    const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '700', SESSION_MAX_AGE_SECONDS: '700' })
    const email = ctx.email()
    await signUp(ctx.app, email)
    const res = await loginAs(ctx, email)
    const { expiresAt, maxExpiresAt } = await checkClock(t, ctx, res, res.json().token, 700)
    t.equal(expiresAt, maxExpiresAt)
  })
})

t.test('the cookie transport answers the same clock, and no token', async (t) => {
  const ctx = await buildTestApp(t, { CORS_ORIGINS: ORIGIN })
  const email = ctx.email()
  await signUp(ctx.app, email)
  const res = await loginAs(ctx, email, PASSWORD, { origin: ORIGIN }, { transport: 'cookie' })
  t.equal(res.statusCode, 201)
  t.same(Object.keys(res.json()).sort(), [...CLOCK_FIELDS, 'csrf_token', 'user'].sort(), 'the CSRF token and the clock; the token stays in the HttpOnly cookie')
  const cookie = res.cookies.find((c) => c.name === '__Host-gatehouse_session')
  t.ok(cookie, 'the session cookie is set')
  await checkClock(t, ctx, res, cookie!.value, ctx.config.sessionTtlSeconds)
})

t.test('POST /users with sign_in', async (t) => {
  const ctx = await buildTestApp(t, { CORS_ORIGINS: ORIGIN })

  t.test('201 with the user, a working token and the clock, from one bcrypt hash and no compare', async (t) => {
    // Counted around the app's own hasher: the real bcrypt runs, these only count the calls.
    const passwords = ctx.app.passwords
    const { hash, verify } = passwords
    const calls = { hash: 0, verify: 0 }
    passwords.hash = (password) => { calls.hash++; return hash(password) }
    passwords.verify = (password, stored) => { calls.verify++; return verify(password, stored) }
    t.teardown(() => { Object.assign(passwords, { hash, verify }) })

    const email = ctx.email()
    const res = await signUpWith(ctx, { email, sign_in: true, client: 'ios 17.4' })
    t.equal(res.statusCode, 201)
    t.same(calls, { hash: 1, verify: 0 }, 'one hash (the new password), no compare')
    const body = res.json()
    t.same(Object.keys(body).sort(), [...CLOCK_FIELDS, 'token', 'user'].sort())
    t.match(body.user, { email, role: 'user', emailVerifiedAt: null })
    t.equal(res.headers['cache-control'], 'no-store', 'a token is never cached')
    await checkClock(t, ctx, res, body.token, ctx.config.sessionTtlSeconds)
    t.equal(claimsOf(body.token).user_id, body.user.id, 'the token is the new user\'s')

    const mine = await me(ctx.app, `Token token=${body.token}`)
    t.equal(mine.statusCode, 200)
    t.same(mine.json().user, body.user, 'GET /me shows the user the sign-up answered')
    const list = await call(ctx.app, 'GET', '/sessions', body.token)
    t.match(list.json().sessions, [{ id: claimsOf(body.token).jti, current: true, client: 'ios 17.4' }], 'the one session, with the client given')
  })

  t.test('the X-Client header names the client when the body does not', async (t) => {
    const res = await signUpWith(ctx, { email: ctx.email(), sign_in: true }, { 'x-client': 'android 14' })
    t.equal(res.statusCode, 201)
    t.match((await call(ctx.app, 'GET', '/sessions', res.json().token)).json().sessions, [{ client: 'android 14' }])
  })

  t.test('without sign_in (or with false): 201 {user} only', async (t) => {
    for (const extra of [{}, { sign_in: false }]) {
      const email = ctx.email()
      const res = await signUpWith(ctx, { email, ...extra })
      t.equal(res.statusCode, 201)
      t.same(Object.keys(res.json()), ['user'], `${JSON.stringify(extra)}: no token, no clock`)
      t.equal(res.headers['set-cookie'], undefined, 'and no cookie')
      t.equal(await usersWithEmail(email), 1)
    }
  })

  t.test('the cookie transport: from an allowed origin, the cookie and the clock; from another, 403 and no account', async (t) => {
    const allowed = await signUpWith(ctx, { email: ctx.email(), sign_in: true, transport: 'cookie' }, { origin: ORIGIN })
    t.equal(allowed.statusCode, 201)
    t.same(Object.keys(allowed.json()).sort(), [...CLOCK_FIELDS, 'csrf_token', 'user'].sort())
    t.ok(allowed.cookies.find((c) => c.name === '__Host-gatehouse_session'), 'the session cookie is set')

    const strangers: Array<Record<string, string>> = [{ origin: 'https://evil.example' }, {}, { origin: 'null' }]
    for (const headers of strangers) {
      const email = ctx.email()
      const res = await signUpWith(ctx, { email, sign_in: true, transport: 'cookie' }, headers)
      t.equal(res.statusCode, 403, JSON.stringify(headers))
      t.equal(res.json().error, 'csrf_rejected')
      t.equal(res.headers['set-cookie'], undefined, 'no cookie')
      t.equal(await usersWithEmail(email), 0, 'and no account was left behind')
    }
  })

  t.test('a client label with a control character, or a sign_in that is not a boolean: 400 and no account', async (t) => {
    const cases: Array<[object, Record<string, string>]> = [
      [{ sign_in: true }, { 'x-client': 'ios\u0007' }],
      [{ sign_in: true, client: 'bad\nclient' }, {}],
      [{ sign_in: 'yes' }, {}],
      [{ sign_in: 'true' }, {}],
      [{ sign_in: 1 }, {}],
      [{ sign_in: true, transport: 'carrier-pigeon' }, {}],
    ]
    for (const [extra, headers] of cases) {
      const email = ctx.email()
      const res = await signUpWith(ctx, { email, ...extra }, headers)
      t.equal(res.statusCode, 400, `${JSON.stringify(extra)} ${JSON.stringify(headers)}`)
      t.equal(res.json().error, 'bad_request')
      t.equal(await usersWithEmail(email), 0, 'no account')
    }
  })

  t.test('a plain sign-up does not look at X-Client: an app that always sends one is not refused', async (t) => {
    const res = await signUpWith(ctx, { email: ctx.email() }, { 'x-client': 'MyApp 1.2.3+45 (Android 14, Pixel 8)' })
    t.equal(res.statusCode, 201)
    t.same(Object.keys(res.json()), ['user'])
  })
})

t.test('REQUIRE_VERIFIED_EMAIL: no session until the email is confirmed, and only the owner learns why', async (t) => {
  const mailDir = await mkdtemp(join(tmpdir(), 'gatehouse-mail-'))
  // Registered first, so it runs last (teardowns run in reverse): after the app has closed.
  t.teardown(() => rm(mailDir, { recursive: true, force: true }))
  const ctx = await buildTestApp(t, { REQUIRE_VERIFIED_EMAIL: 'true', MAIL_TRANSPORT: 'files', MAIL_DIR: mailDir })
  const email = ctx.email()

  const signedUp = await signUpWith(ctx, { email, sign_in: true })
  t.equal(signedUp.statusCode, 201)
  t.same(Object.keys(signedUp.json()), ['user'], 'the account, but no session')
  t.equal(signedUp.json().user.emailVerifiedAt, null)

  const right = await loginAs(ctx, email)
  t.equal(right.statusCode, 403)
  t.equal(right.json().error, 'email_unverified')
  const wrong = await loginAs(ctx, email, 'not the password')
  t.equal(wrong.statusCode, 401, 'a wrong password learns nothing about the email')
  t.equal(wrong.json().error, 'invalid_credentials')

  await sql('UPDATE users SET email_verified_at = now() WHERE email = $1', [email])
  const verified = await loginAs(ctx, email)
  t.equal(verified.statusCode, 201)
  t.type(verified.json().token, 'string')
  t.not(verified.json().user.emailVerifiedAt, null)
})

t.test('GET /me shows when the email was confirmed, from Redis alone: the hash once a login recorded it, before that the confirmation', async (t) => {
  const mailDir = await mkdtemp(join(tmpdir(), 'gatehouse-mail-'))
  t.teardown(() => rm(mailDir, { recursive: true, force: true }))
  const ctx = await buildTestApp(t, { MAIL_TRANSPORT: 'files', MAIL_DIR: mailDir })
  const email = ctx.email()
  const res = await signUpWith(ctx, { email, sign_in: true })
  const { token, user } = res.json()
  t.equal((await me(ctx.app, `Token token=${token}`)).json().user.emailVerifiedAt, null, 'a new user is unverified')
  t.equal(await ctx.redis.hget(sessionKeyOf(ctx, token), 'email_verified_at'), '', 'and the session records nothing')

  await ctx.app.accountMail!.idle()
  const mail = await readMailFile(mailDir, email)
  t.equal((await ctx.app.inject({ method: 'POST', url: '/email-verifications/confirm', payload: { token: codeOf(mail) } })).statusCode, 204)
  const [row] = await sql<{ at: Date }>('SELECT email_verified_at AS at FROM users WHERE id = $1', [user.id])
  const confirmed = row!.at.toISOString()
  t.equal((await me(ctx.app, `Token token=${token}`)).json().user.emailVerifiedAt, confirmed, 'the session from before shows the instant PostgreSQL holds')
  t.equal(await ctx.redis.hget(sessionKeyOf(ctx, token), 'email_verified_at'), '', 'the older session is not rewritten')
  const marker = `${ctx.config.redisKeyPrefix}user:{${user.id}}:email_verified_at`
  t.equal(await ctx.redis.get(marker), String(row!.at.getTime()), 'Redis records the confirmation beside the user\'s other keys')
  const pttl = await ctx.redis.pttl(marker)
  t.ok(pttl > ctx.config.sessionMaxAgeSeconds * 1000 && pttl <= ctx.config.sessionMaxAgeSeconds * 1000 + 3_600_000, 'for as long as a session from before can live')

  const fresh = (await loginAs(ctx, email)).json().token
  t.equal(await ctx.redis.hget(sessionKeyOf(ctx, fresh), 'email_verified_at'), String(row!.at.getTime()), 'a login after it writes the instant into the session hash (Unix ms)')
  t.equal((await me(ctx.app, `Token token=${fresh}`)).json().user.emailVerifiedAt, confirmed, 'and GET /me shows the same instant')

  // Proof that neither reads PostgreSQL: the row is changed behind their backs, and both still
  // show what Redis recorded.
  await sql('UPDATE users SET email_verified_at = email_verified_at - interval \'1 day\' WHERE id = $1', [user.id])
  t.equal((await me(ctx.app, `Token token=${fresh}`)).json().user.emailVerifiedAt, confirmed, 'the new session: from its hash')
  t.equal((await me(ctx.app, `Token token=${token}`)).json().user.emailVerifiedAt, confirmed, 'the older one: from the confirmation in Redis')
})
