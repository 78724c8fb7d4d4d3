import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { call, me, newSession, PASSWORD } from '../helpers/http.js'
import { eventually } from '../helpers/wait.js'
import { expect503 } from './outage.js'
import { startPrivatePostgres } from './private-postgres.js'

// These tests crash and freeze a PostgreSQL server of their own, never the shared one.

t.test('Postgres frozen (answers nothing): 503 within the timeout, and back on its own', async (t) => {
  const postgres = await startPrivatePostgres(t)
  const ctx = await buildTestApp(t, { DATABASE_URL: postgres.url, DATABASE_TIMEOUT_MS: '500' })
  const { token, email } = await newSession(ctx)
  const auth = `Token token=${token}`

  postgres.freeze()
  for (const [name, request] of [
    ['password change', () => call(ctx.app, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: 'a different passphrase' })],
    ['login', () => ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })],
    ['sign-up', () => ctx.app.inject({ method: 'POST', url: '/users', payload: { email: ctx.email(), password: PASSWORD } })],
  ] as const) {
    const started = Date.now()
    expect503(t, await request(), name)
    t.ok(Date.now() - started < 2500, `${name}: answered within a bounded time (${Date.now() - started} ms)`)
  }
  const ready = await ctx.app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json().checks, { redis: 'ok', postgres: 'down' })
  t.equal((await call(ctx.app, 'GET', '/sessions', token)).statusCode, 200, 'what needs only Redis keeps working:')
  const profile = await me(ctx.app, auth)
  t.equal(profile.statusCode, 200, 'GET /me too (it is served from the session)')
  t.equal(profile.json().user.email, email.toLowerCase())

  postgres.thaw()
  t.ok(await eventually(10_000, async () => (await me(ctx.app, auth)).statusCode === 200), 'the same session works again, no restart')
  t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 201, 'logins too')
})

t.test('Postgres crashed and restarted: 503 meanwhile, then back on its own', async (t) => {
  const postgres = await startPrivatePostgres(t)
  const ctx = await buildTestApp(t, { DATABASE_URL: postgres.url, DATABASE_TIMEOUT_MS: '500' })
  const { token, email } = await newSession(ctx)
  const auth = `Token token=${token}`

  await postgres.kill()
  const started = Date.now()
  expect503(t, await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } }), 'login')
  expect503(t, await call(ctx.app, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: 'a different passphrase' }), 'password change')
  t.ok(Date.now() - started < 3000, 'answered at once')
  t.equal((await me(ctx.app, 'Token token=forged')).statusCode, 401, 'a bad token is still 401, never let through')
  t.equal((await me(ctx.app, auth)).statusCode, 200, 'and the session works throughout')

  await postgres.start()
  t.ok(await eventually(10_000, async () => (await ctx.app.inject({ method: 'GET', url: '/ready' })).statusCode === 200), 'ready again')
  t.equal((await me(ctx.app, auth)).statusCode, 200, 'the session survived (it lives in Redis)')
  const again = await newSession(ctx)
  t.equal((await me(ctx.app, `Token token=${again.token}`)).statusCode, 200, 'sign-up and login work again')
})
