import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { call, login, me, newSession, signUp } from '../helpers/http.js'
import { eventually } from '../helpers/wait.js'
import { expect503 } from './outage.js'
import { startPrivateRedis } from './private-redis.js'

// These tests kill and pause a redis-server of their own, never the shared one.

const SERVICE = 'outage-test-service-credential-0123456789abcdef'

t.test('Redis down: fail closed with 503, recover on its own', async (t) => {
  const redis = await startPrivateRedis(t)
  // With account mail (an SMTP server never reached here), so that its routes are there to fail closed.
  const ctx = await buildTestApp(t, { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '300', INTROSPECTION_TOKENS: SERVICE, EXPIRED_EVENTS: 'configure', SMTP_URL: 'smtp://127.0.0.1:9' })
  const { token, email } = await newSession(ctx)
  const auth = `Token token=${token}`
  t.equal((await me(ctx.app, auth)).statusCode, 200)

  await redis.kill()
  expect503(t, await me(ctx.app, auth), 'GET /me')
  expect503(t, await ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { authorization: auth } }), 'logout')
  expect503(t, await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: 'correct horse battery' } }), 'login')
  for (const [method, url] of [['GET', '/sessions'], ['DELETE', '/sessions'], ['PUT', '/me/password'], ['GET', '/admin/settings/session-ttl']] as const) {
    expect503(t, await call(ctx.app, method, url, token, method === 'PUT' ? { current_password: 'correct horse battery', new_password: 'another passphrase' } : undefined), `${method} ${url}`)
  }
  // The mail routes count requests and wrong tokens in Redis: without it they answer 503, alike
  // for every email and every token, and nothing is sent or used up.
  for (const [url, payload] of [
    ['/password-resets', { email }], ['/password-resets', { email: ctx.email() }], ['/email-verifications', { email }],
    ['/password-resets/confirm', { token: 'x'.repeat(43), password: 'another passphrase' }], ['/email-verifications/confirm', { token: 'x'.repeat(43) }],
  ] as const) {
    expect503(t, await ctx.app.inject({ method: 'POST', url, payload }), `POST ${url}`)
  }
  expect503(t, await ctx.app.inject({ method: 'DELETE', url: '/me', headers: { authorization: auth }, payload: { password: 'correct horse battery' } }), 'DELETE /me')
  const introspection = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${SERVICE}` }, payload: { token } })
  expect503(t, introspection, 'POST /introspect')
  const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200, 'metrics are still served (the session count keeps its last value)')
  t.match(metrics.body, /gatehouse_session_touches_total\{result="ok"\} 1/)
  const ready = await ctx.app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json().checks, { redis: 'down', postgres: 'ok' })
  t.equal((await ctx.app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'the process is still up')
  // Sign-up needs only Postgres (its brute-force limit falls back to a count in memory).
  t.equal((await ctx.app.inject({ method: 'POST', url: '/users', payload: { email: ctx.email(), password: 'correct horse battery' } })).statusCode, 201)
  // With sign_in the account is made, but no session can be: the account, without one (not a 503
  // whose retry would meet email_taken), and the app signs in later as usual.
  const signedUp = await ctx.app.inject({ method: 'POST', url: '/users', payload: { email: ctx.email(), password: 'correct horse battery', sign_in: true } })
  t.equal(signedUp.statusCode, 201, 'sign-up with sign_in while Redis is down')
  t.same(Object.keys(signedUp.json()), ['user'], 'the account, no token')

  // Back, but empty (no persistence): sessions are gone, the service works again without a restart.
  await redis.start()
  t.ok(await eventually(5000, async () => (await ctx.app.inject({ method: 'GET', url: '/ready' })).statusCode === 200), 'ready again')
  const after = await me(ctx.app, auth)
  t.equal(after.statusCode, 401, 'the old session died with the data')
  t.equal(after.json().error, 'session_expired')
  const again = await newSession(ctx)
  t.equal((await me(ctx.app, `Token token=${again.token}`)).statusCode, 200, 'new logins work')
})

t.test('Redis paused or frozen: 503 within the command timeout, then back to normal', async (t) => {
  const redis = await startPrivateRedis(t)
  const ctx = await buildTestApp(t, { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '300' })
  const { token } = await newSession(ctx)
  const auth = `Token token=${token}`

  await redis.pause(1500)
  let started = Date.now()
  expect503(t, await me(ctx.app, auth), 'during CLIENT PAUSE')
  t.ok(Date.now() - started < 1400, 'answered before the pause ended')
  t.ok(await eventually(5000, async () => (await me(ctx.app, auth)).statusCode === 200), 'the same session works after the pause')

  redis.freeze()
  started = Date.now()
  expect503(t, await me(ctx.app, auth), 'while SIGSTOPped')
  t.ok(Date.now() - started < 3000, 'bounded wait')
  redis.thaw()
  t.ok(await eventually(5000, async () => (await me(ctx.app, auth)).statusCode === 200), 'works again after SIGCONT')
})

t.test('Postgres unreachable: 503 where it is needed, sessions still checked in Redis', async (t) => {
  const healthy = await buildTestApp(t)
  const { token, email } = await newSession(healthy)
  await signUp(healthy.app, healthy.email())
  // Same Redis prefix and secret, but a Postgres port where nothing listens.
  const broken = await buildTestApp(t, {
    REDIS_KEY_PREFIX: healthy.config.redisKeyPrefix,
    DATABASE_URL: 'postgresql://postgres:postgres@127.0.0.1:1/gatehouse_test',
  })
  const password = 'correct horse battery'
  expect503(t, await broken.app.inject({ method: 'POST', url: '/users', payload: { email: broken.email(), password } }), 'sign-up')
  expect503(t, await broken.app.inject({ method: 'POST', url: '/sessions', payload: { email: broken.email(), password } }), 'login')
  t.equal((await me(broken.app, `Token token=${token}`)).statusCode, 200, 'GET /me is served from the session: no Postgres needed')
  t.equal((await me(broken.app, 'Token token=forged')).statusCode, 401, 'a bad token is still 401, not 503')
  const ready = await broken.app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json().checks, { redis: 'ok', postgres: 'down' })
  const { token: other } = await login(healthy.app, email)
  expect503(t, await call(broken.app, 'PUT', '/me/password', token, { current_password: password, new_password: 'another passphrase' }), 'password change')
  t.equal((await me(healthy.app, `Token token=${other}`)).statusCode, 200, 'a failed password change ended no session')
  t.equal((await call(broken.app, 'GET', '/sessions', token)).json().sessions.length, 2, 'the session list needs only Redis')
  t.same((await call(broken.app, 'DELETE', '/sessions', token)).json(), { revoked: 1 }, 'so does ending the others')
  const logout = await broken.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { authorization: `Token token=${token}` } })
  t.equal(logout.statusCode, 204, 'logout needs only Redis')
})
