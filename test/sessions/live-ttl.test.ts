import t, { type Test } from 'tap'
import { buildTestApp, captureLogs } from '../helpers/app.js'
import { call, claimsOf, login, me, newAdmin, newSession } from '../helpers/http.js'
import { sessionKeyOf, streamEvents, touchUntilTtlAtMost } from '../helpers/redis.js'
import { eventually, sleep } from '../helpers/wait.js'

// Two instances on one Redis and one prefix, as in production: they share nothing else.
async function twoInstances (t: Test) {
  const a = await buildTestApp(t)
  const logs = captureLogs('info')
  const b = await buildTestApp(t, { REDIS_KEY_PREFIX: a.config.redisKeyPrefix }, { logger: logs.logger })
  return { a, b, logs }
}

const ttlUrl = '/admin/settings/session-ttl'

t.test('admins read and change the TTL over HTTP; everyone else is refused', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '1200', SESSION_MAX_AGE_SECONDS: '86400' })
  const admin = await newAdmin(ctx)
  const user = await newSession(ctx)

  const initial = await call(ctx.app, 'GET', ttlUrl, admin.token)
  t.equal(initial.statusCode, 200)
  t.same(initial.json(), { ttl_seconds: 1200, source: 'default', default_ttl_seconds: 1200, max_ttl_seconds: 86400, set_by: null, set_at: null, clients: [] })

  const set = await call(ctx.app, 'PUT', ttlUrl, admin.token, { ttl_seconds: 900 })
  t.equal(set.statusCode, 200)
  t.match(set.json(), { ttl_seconds: 900, source: 'override', set_by: `admin ${admin.email} (${admin.user.id})`, set_at: /^\d{4}-/ })
  t.equal(await ctx.redis.hget(`${ctx.config.redisKeyPrefix}config`, 'session_ttl_seconds'), '900', 'stored in <prefix>config')

  const reset = await call(ctx.app, 'DELETE', ttlUrl, admin.token)
  t.match(reset.json(), { ttl_seconds: 1200, source: 'default', set_by: `admin ${admin.email} (${admin.user.id})` })
  t.equal(await ctx.redis.hget(`${ctx.config.redisKeyPrefix}config`, 'session_ttl_seconds'), null)

  for (const [body, message] of [
    [{ ttl_seconds: 0 }, 'body/ttl_seconds must be >= 1'],
    [{ ttl_seconds: -5 }, 'body/ttl_seconds must be >= 1'],
    [{ ttl_seconds: 'abc' }, 'body/ttl_seconds must be integer'],
    [{ ttl_seconds: 1.5 }, 'body/ttl_seconds must be integer'],
    [{ ttl_seconds: 86401 }, 'body/ttl_seconds must not exceed the absolute session lifetime, SESSION_MAX_AGE_SECONDS (1d (86400 s))'],
    [{}, "must have required property 'ttl_seconds'"],
    [{ ttl_seconds: 60, extra: 1 }, 'must NOT have additional properties'],
  ] as const) {
    const res = await call(ctx.app, 'PUT', ttlUrl, admin.token, body)
    t.equal(res.statusCode, 400, JSON.stringify(body))
    t.match(res.json(), { error: 'bad_request', message })
  }
  t.equal((await call(ctx.app, 'GET', ttlUrl, admin.token)).json().source, 'default', 'no bad value was stored')

  t.equal((await call(ctx.app, 'GET', ttlUrl, user.token)).statusCode, 403)
  t.equal((await call(ctx.app, 'PUT', ttlUrl, user.token, { ttl_seconds: 60 })).statusCode, 403)
  t.equal((await call(ctx.app, 'DELETE', ttlUrl, user.token)).statusCode, 403)
  t.equal((await ctx.app.inject({ method: 'PUT', url: ttlUrl, payload: { ttl_seconds: 60 } })).statusCode, 401)
})

t.test('a change reaches another instance within one second, and is logged there with who made it', async (t) => {
  const { a, b, logs } = await twoInstances(t)
  const admin = await newAdmin(a)
  const { token } = await newSession(b)

  const res = await call(a.app, 'PUT', ttlUrl, admin.token, { ttl_seconds: 30 })
  t.equal(res.statusCode, 200)
  // Instance B slides the session with the TTL it has; poll until that is the new one.
  const pttl = await touchUntilTtlAtMost(t, b, token, 30_000, Date.now())
  t.ok(pttl > 0 && pttl <= 30_000, `instance B applied the new TTL within 1 s (PTTL ${pttl} ms)`)
  const fresh = (await login(b.app, (await newSession(a)).email)).token
  const freshTtl = await b.redis.pttl(sessionKeyOf(a, fresh))
  t.ok(freshTtl > 0 && freshTtl <= 30_000, `and new sessions on B get it too (PTTL ${freshTtl} ms)`)
  const line = logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'session TTL changed')
  t.match(line, { oldTtlSeconds: 1200, newTtlSeconds: 30, setBy: `admin ${admin.email} (${admin.user.id})` }, 'B logged the change: who, old, new')
})

t.test('shortening the TTL ends sessions idle for longer than the new TTL, at their next request', async (t) => {
  const { a, b, logs } = await twoInstances(t)
  const admin = await newAdmin(a)
  const idle = await newSession(b)
  const active = await newSession(b)
  await sleep(2500) // idle time: the subject of the test

  // Used just before the change: its last_seen_at is fresh. (Used just after it, the test would race
  // B's refresh of the TTL, every 500 ms: with the new TTL already in force, 2.5 s idle is too long.)
  t.equal((await me(b.app, `Token token=${active.token}`)).statusCode, 200)
  t.equal((await call(a.app, 'PUT', ttlUrl, admin.token, { ttl_seconds: 2 })).statusCode, 200)
  const changed = (line: string) => JSON.parse(line).msg === 'session TTL changed' && JSON.parse(line).newTtlSeconds === 2
  await eventually(5000, () => logs.lines.some(changed))

  // Idle over 2.5 s: the old TTL (20 min) would have kept it, the new one (2 s) does not.
  const res = await me(b.app, `Token token=${idle.token}`)
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'session_expired')
  t.equal(await b.redis.exists(sessionKeyOf(b, idle.token)), 0, 'its key is deleted')
  t.equal((await me(b.app, `Token token=${idle.token}`)).statusCode, 401, 'and stays gone')

  // Idle for well under a second: still inside the new TTL, and the new TTL now bounds its key.
  t.equal((await me(b.app, `Token token=${active.token}`)).statusCode, 200)
  const pttl = await b.redis.pttl(sessionKeyOf(b, active.token))
  t.ok(pttl > 0 && pttl <= 2000, `the touch applied the new TTL (PTTL ${pttl} ms)`)
  t.notOk((await call(b.app, 'GET', '/sessions', active.token)).json().sessions.some((s: { id: string }) => s.id === claimsOf(idle.token).jti), 'not listed either')

  const expired = (await streamEvents(b)).filter((e) => e.type === 'expired')
  t.same(expired.map((e) => [e.session_id, e.user_id, e.reason]), [[claimsOf(idle.token).jti, idle.user.id, 'idle']], 'an expired event with reason idle')
})

t.test('lengthening the TTL lets existing sessions live longer from their next request', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '5' })
  const admin = await newAdmin(ctx)
  const { token } = await newSession(ctx)
  const key = sessionKeyOf(ctx, token)
  t.ok((await ctx.redis.pttl(key)) <= 5000)
  t.equal((await call(ctx.app, 'PUT', ttlUrl, admin.token, { ttl_seconds: 600 })).statusCode, 200)
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
  t.ok((await ctx.redis.pttl(key)) > 5000, 'the next request applied the longer TTL')
})

t.test('a value written to Redis by hand that is not a valid TTL is ignored, with a warning', async (t) => {
  const logs = captureLogs('warn')
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '1200' }, { logger: logs.logger })
  const admin = await newAdmin(ctx)
  for (const bad of ['0', '-5', '15m', 'abc', '99999999999']) {
    await ctx.redis.hset(`${ctx.config.redisKeyPrefix}config`, 'session_ttl_seconds', bad)
    const res = await call(ctx.app, 'GET', ttlUrl, admin.token)
    t.match(res.json(), { ttl_seconds: 1200, source: 'default' }, `"${bad}" is not used`)
  }
  // The warning comes from the background refresh of the TTL (every 500 ms).
  t.ok(await eventually(5000, () => logs.lines.some((l) => JSON.parse(l).msg === 'ignoring an invalid session TTL in Redis; using the default')))
  const { token } = await newSession(ctx)
  t.ok((await ctx.redis.pttl(sessionKeyOf(ctx, token))) > 1_000_000, 'sessions get the default')
})
