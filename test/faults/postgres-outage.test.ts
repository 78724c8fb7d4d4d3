import type { AddressInfo } from 'node:net'
import t from 'tap'
import { openEventStream } from '../console/event-stream.js'
import { buildTestApp } from '../helpers/app.js'
import { sql } from '../helpers/db.js'
import { call, login, me, newSession, PASSWORD, signUp } from '../helpers/http.js'
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

t.test('Postgres down under an open console: its event stream goes on, rows without the email until it is back', async (t) => {
  const postgres = await startPrivatePostgres(t)
  const ctx = await buildTestApp(t, { DATABASE_URL: postgres.url, DATABASE_TIMEOUT_MS: '500' })
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const adminEmail = ctx.email()
  const admin = await signUp(ctx.app, adminEmail)
  await sql('UPDATE users SET role = \'admin\' WHERE id = $1', [admin.id], postgres.url)
  const { token } = await login(ctx.app, adminEmail)
  // Signed up but never logged in: no row has named this user yet, so no email is remembered.
  const quiet = await signUp(ctx.app, ctx.email())
  const stream = await openEventStream(`${base}/admin/events`, { authorization: `Token token=${token}` })
  t.teardown(stream.close)
  const entry = (sessionId: string) => ctx.redis.xadd(`${ctx.config.redisKeyPrefix}events`, '*', 'v', '1', 'type', 'revoked', 'session_id', sessionId, 'user_id', quiet.id, 'reason', 'admin', 'client', '')
  const row = async (sessionId: string) => JSON.parse((await stream.waitFor((m) => m.event === 'session' && JSON.parse(m.data).session_id === sessionId, 5000)).data)

  await postgres.kill()
  await entry('during')
  t.match(await row('during'), { user_id: quiet.id, email: null }, 'the row comes, without the email')
  await postgres.start()
  t.ok(await eventually(10_000, async () => (await ctx.app.inject({ method: 'GET', url: '/ready' })).statusCode === 200), 'ready again')
  // Another type between them, so the two entries of the user are not one run.
  await ctx.redis.xadd(`${ctx.config.redisKeyPrefix}events`, '*', 'v', '1', 'type', 'created', 'session_id', 'between', 'user_id', admin.id, 'reason', '', 'client', '')
  await entry('after')
  t.match(await row('after'), { user_id: quiet.id, email: quiet.email }, 'the same stream names the user again: a failed lookup is not remembered')
})
