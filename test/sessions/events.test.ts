import { Redis } from 'ioredis'
import t from 'tap'
import { startPrivateRedis } from '../faults/private-redis.js'
import { buildTestApp } from '../helpers/app.js'
import { sql } from '../helpers/db.js'
import { call, claimsOf, login, newAdmin, newSession, PASSWORD, signUp } from '../helpers/http.js'
import { keysOf, streamEvents } from '../helpers/redis.js'
import { eventually, sleep } from '../helpers/wait.js'

// Other services follow sessions through the `<prefix>events` stream (docs/session-contract.md, "Events").
const jti = (token: string) => claimsOf(token).jti as string

t.test('every way a session starts or is ended puts one event in the stream', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '2' })
  const admin = await newAdmin(ctx)
  const events = async () => (await streamEvents(ctx)).filter((e) => e.user_id !== admin.user.id)

  const { token, user, email } = await newSession(ctx)
  t.same(await events(), [{ v: '1', type: 'created', session_id: jti(token), user_id: user.id, reason: '', client: '' }], 'created')

  const seen = async (reason: string) => (await events()).filter((e) => e.type === 'revoked' && e.reason === reason).map((e) => e.session_id)

  t.equal((await call(ctx.app, 'DELETE', '/sessions/current', token)).statusCode, 204)
  t.same(await seen('logout'), [jti(token)], 'revoked: logout')

  const first = (await login(ctx.app, email)).token
  const second = (await login(ctx.app, email)).token
  const third = (await login(ctx.app, email)).token
  t.same(await seen('cap'), [jti(first)], 'revoked: cap (the least recently used, past SESSION_MAX_PER_USER=2)')

  t.equal((await call(ctx.app, 'DELETE', '/sessions', third)).statusCode, 200)
  t.same(await seen('revoke-all'), [jti(second)], 'revoked: revoke-all (all but the caller)')

  const other = (await login(ctx.app, email)).token
  t.equal((await call(ctx.app, 'PUT', '/me/password', third, { current_password: PASSWORD, new_password: 'a brand new passphrase' })).statusCode, 204)
  t.same(await seen('password-change'), [jti(other)], 'revoked: password-change')

  t.equal((await call(ctx.app, 'DELETE', `/admin/users/${user.id}/sessions`, admin.token)).statusCode, 200)
  t.same(await seen('admin'), [jti(third)], 'revoked: admin')

  const again = (await login(ctx.app, email, 'a brand new passphrase')).token
  t.equal((await call(ctx.app, 'PUT', `/admin/users/${user.id}/role`, admin.token, { role: 'admin' })).statusCode, 200)
  t.same(await seen('role-change'), [jti(again)], 'revoked: role-change')

  const last = (await login(ctx.app, email, 'a brand new passphrase')).token
  await sql('DELETE FROM users WHERE id = $1', [user.id])
  // A row deleted by hand is found by the next request that reads the user from Postgres.
  t.equal((await call(ctx.app, 'PUT', '/me/password', last, { current_password: 'a brand new passphrase', new_password: 'yet another passphrase' })).statusCode, 401)
  t.same(await seen('account-deleted'), [jti(last)], 'revoked: account-deleted (found at its next password change)')

  const created = (await events()).filter((e) => e.type === 'created').map((e) => e.session_id)
  t.same(created, [token, first, second, third, other, again, last].map(jti), 'one created event per login')
  t.ok((await events()).every((e) => e.v === '1' && e.user_id === user.id), 'all versioned and naming the user')
})

t.test('entries name the session\'s client where the writer knows it without another round trip', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, user } = await newSession(ctx)
  const loginAs = async (client: string) => {
    const res = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD, client } })
    return res.json().token as string
  }
  const mine = async () => (await streamEvents(ctx)).filter((e) => e.user_id === user.id)
  const phone = await loginAs('Pixel 9')
  const laptop = await loginAs('Firefox on Linux')
  const tablet = await loginAs('iPad')
  t.match((await mine()).filter((e) => e.type === 'created').map((e) => e.client), ['', 'Pixel 9', 'Firefox on Linux', 'iPad'], 'created: the login\'s device')
  t.equal((await call(ctx.app, 'DELETE', '/sessions/current', phone)).statusCode, 204)
  t.match((await mine()).at(-1), { type: 'revoked', reason: 'logout', session_id: jti(phone), client: 'Pixel 9' }, 'revoked (one session): read by the script that ends it')
  t.equal((await call(ctx.app, 'DELETE', '/sessions', tablet)).statusCode, 200)
  const swept = (await mine()).filter((e) => e.reason === 'revoke-all')
  t.equal(swept.length, 2, 'the first session and the laptop')
  t.equal(swept.find((e) => e.session_id === jti(laptop))?.client, 'Firefox on Linux', 'revoked (a revoke-all\'s sweep): read by the sweep')
})

t.test('an `expired` entry a request finds (idle past a TTL shortened since) names the client too', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const { email, user } = await newSession(ctx)
  const res = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD, client: 'Watch' } })
  const token = res.json().token as string
  // Ops shorten the TTL under the session: idle for longer than the new one, it ends at its next request.
  t.equal((await call(ctx.app, 'PUT', '/admin/settings/session-ttl', admin.token, { ttl_seconds: 1 })).statusCode, 200)
  await sleep(1200)
  t.match((await call(ctx.app, 'GET', '/me', token)).json(), { error: 'session_expired', reason: 'idle' })
  const expired = (await streamEvents(ctx)).filter((e) => e.user_id === user.id && e.type === 'expired')
  t.match(expired, [{ session_id: jti(token), reason: 'idle', client: 'Watch' }], 'read by the script that ends it, in that one case')
})

t.test('the stream is capped (MAXLEN ~)', async (t) => {
  const ctx = await buildTestApp(t, { EVENTS_MAX_LENGTH: '1000' })
  const { email } = await newSession(ctx)
  const key = `${ctx.config.redisKeyPrefix}events`
  // Enough entries to fill more than one macro node (100 entries each by default).
  const pipeline = ctx.redis.pipeline()
  for (let i = 0; i < 1500; i++) pipeline.xadd(key, '*', 'filler', String(i))
  await pipeline.exec()
  await login(ctx.app, email)
  const length = await ctx.redis.xlen(key)
  t.ok(length < 1502 && length >= 1000, `trimmed to about 1000 (${length})`)
})

t.test('Redis expiring a session publishes one expired event, whichever instances listen', async (t) => {
  // Keyspace notifications are a server-wide setting: this test has a Redis of its own.
  const redis = await startPrivateRedis(t)
  const env = { REDIS_URL: redis.url, SESSION_TTL_SECONDS: '1', EXPIRED_EVENTS: 'configure' }
  const a = await buildTestApp(t, env)
  const b = await buildTestApp(t, { ...env, REDIS_KEY_PREFIX: a.config.redisKeyPrefix })

  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  const [, flags = ''] = (await admin.config('GET', 'notify-keyspace-events')) as string[]
  t.ok(flags.includes('E') && flags.includes('x'), `the app turned on expired notifications (${flags})`)

  const user = await signUp(a.app, a.email())
  const { token } = await login(b.app, user.email)
  const expired = async () => (await streamEvents(a)).filter((e) => e.type === 'expired')
  await eventually(5000, async () => (await expired()).length > 0)
  await sleep(300) // time for a duplicate, if there were one: a sleep, since nothing should come
  t.same(await expired(), [{ v: '1', type: 'expired', session_id: jti(token), user_id: user.id, reason: 'ttl', client: '' }], 'exactly one, naming the user')
  t.equal(await admin.exists(keysOf(a).owner(user.id, jti(token))), 0, 'the owner key was consumed')
})

t.test('with EXPIRED_EVENTS=listen the app does not touch the Redis configuration', async (t) => {
  const redis = await startPrivateRedis(t)
  await buildTestApp(t, { REDIS_URL: redis.url, EXPIRED_EVENTS: 'listen' })
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  t.same(await admin.config('GET', 'notify-keyspace-events'), ['notify-keyspace-events', ''])
})

t.test('started while Redis is down, and after Redis restarts empty, expired events still flow', async (t) => {
  const redis = await startPrivateRedis(t)
  await redis.kill()
  // The app starts without Redis (requests get 503 meanwhile), as it always has.
  const ctx = await buildTestApp(t, { REDIS_URL: redis.url, SESSION_TTL_SECONDS: '1', EXPIRED_EVENTS: 'configure' })
  await redis.start() // a fresh server: no keyspace notifications configured
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())

  const notificationFlags = async () => {
    let flags = ''
    await eventually(5000, async () => {
      flags = ((await admin.config('GET', 'notify-keyspace-events').catch(() => ['', ''])) as string[])[1] ?? ''
      return flags.includes('x')
    })
    return flags
  }
  t.match(await notificationFlags(), /^(?=.*E)(?=.*x)/, 'turned on once Redis came')
  await redis.kill()
  await redis.start()
  t.match(await notificationFlags(), /^(?=.*E)(?=.*x)/, 'and again after Redis restarted empty')

  const user = await signUp(ctx.app, ctx.email())
  let token = ''
  await eventually(5000, async () => {
    const res = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email: user.email, password: PASSWORD } })
    if (res.statusCode === 201) token = res.json().token
    return token !== ''
  })
  const expired = async () => (await streamEvents(ctx)).filter((e) => e.type === 'expired')
  await eventually(5000, async () => (await expired()).length > 0)
  t.same((await expired()).map((e) => e.session_id), [jti(token)], 'the subscription was made once Redis answered')
})
