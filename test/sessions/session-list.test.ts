import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { call, claimsOf, login, me, newSession, PASSWORD, signAsGatehouse } from '../helpers/http.js'
import { keysOf } from '../helpers/redis.js'
import { sleep } from '../helpers/wait.js'
import { TOUCH_WRITE_INTERVAL_MS } from '../../src/sessions/scripts/index.js'

t.test('GET /sessions', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, token: first } = await newSession(ctx)
  const phone = await ctx.app.inject({
    method: 'POST',
    url: '/sessions',
    headers: { 'user-agent': 'Gatehouse-iOS/3.1', 'x-client': 'ios' },
    payload: { email, password: PASSWORD },
  })
  const second = phone.json().token as string

  t.test('lists the caller\'s live sessions with what identifies each, the caller\'s own first', async (t) => {
    // Past the write interval, so `second`'s use is written (the contract's last_seen_at): it is the
    // most recently used, and the newest, and still comes after the caller's own.
    await sleep(TOUCH_WRITE_INTERVAL_MS + 50)
    t.equal((await me(ctx.app, `Token token=${second}`)).statusCode, 200)
    const res = await call(ctx.app, 'GET', '/sessions', first)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store', 'addresses and devices are never cached')
    const { sessions } = res.json()
    t.equal(sessions.length, 2)
    t.same(sessions.map((s: { id: string }) => s.id), [claimsOf(first).jti, claimsOf(second).jti], 'the caller\'s own first, though `second` is newer and was used last')
    const [current, other] = sessions
    t.match(current, { current: true, client: '', ip: '127.0.0.1' })
    t.match(other, { current: false, client: 'ios', user_agent: 'Gatehouse-iOS/3.1', ip: '127.0.0.1' })
    for (const s of sessions) {
      t.same(Object.keys(s).sort(), ['client', 'created_at', 'current', 'expires_at', 'id', 'ip', 'last_seen_at', 'max_expires_at', 'user_agent'])
      const [created, seen, expires, max] = [s.created_at, s.last_seen_at, s.expires_at, s.max_expires_at].map(Date.parse)
      t.ok(created! <= seen! && seen! < expires! && expires! <= max!, 'created <= last seen < expires <= max expires')
      t.ok(expires! - seen! <= ctx.config.sessionTtlSeconds * 1000 + 1000, 'expires_at is the sliding window')
    }
  })

  t.test('a `client` in the body wins over the X-Client header', async (t) => {
    const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'x-client': 'web' }, payload: { email, password: PASSWORD, client: 'android 14' } })
    const { token } = res.json()
    const mine = (await call(ctx.app, 'GET', '/sessions', token)).json().sessions.find((s: { current: boolean }) => s.current)
    t.equal(mine.client, 'android 14')
    await call(ctx.app, 'DELETE', '/sessions/current', token)
  })

  // Any other label is taken, cut to 64 code points (test/sessions/client-label.test.ts).
  t.test('a client label with a control character, or not a string, is a 400, and no session is created', async (t) => {
    for (const [headers, payload] of [
      [{ 'x-client': 'ios\u0007' }, {}],
      [{}, { client: 'a\nb' }],
      [{}, { client: 42 }],
    ] as const) {
      const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers, payload: { email, password: PASSWORD, ...payload } })
      t.equal(res.statusCode, 400, JSON.stringify([headers, payload]))
      t.equal(res.json().error, 'bad_request')
    }
    t.equal((await call(ctx.app, 'GET', '/sessions', first)).json().sessions.length, 2)
  })

  t.test('another user sees only their own sessions', async (t) => {
    const other = await newSession(ctx)
    const { sessions } = (await call(ctx.app, 'GET', '/sessions', other.token)).json()
    t.same(sessions.map((s: { id: string }) => s.id), [claimsOf(other.token).jti])
  })

  t.test('a listed id is not a credential', async (t) => {
    const id = claimsOf(second).jti as string
    t.equal((await me(ctx.app, `Token token=${id}`)).statusCode, 401, 'the id as a token')
    const forged = signAsGatehouse({ ...claimsOf(second) }, 'an attacker secret of at least 32 bytes!!')
    t.equal((await me(ctx.app, `Token token=${forged}`)).statusCode, 401, 'a token forged around the id')
  })

  t.test('needs a session', async (t) => {
    t.equal((await ctx.app.inject({ method: 'GET', url: '/sessions' })).statusCode, 401)
  })
})

t.test('sessions that ran out their TTL drop out of the list and the index', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '1' })
  const { email, token: idle } = await newSession(ctx)
  const { token: active } = await login(ctx.app, email)
  const index = keysOf(ctx).index(String(claimsOf(active).user_id))
  // 1.5 s of use every 500 ms: one session kept alive, the other left idle past the 1 s TTL.
  for (let i = 0; i < 3; i++) {
    await sleep(500)
    t.equal((await me(ctx.app, `Token token=${active}`)).statusCode, 200)
  }
  const { sessions } = (await call(ctx.app, 'GET', '/sessions', active)).json()
  t.same(sessions.map((s: { id: string }) => s.id), [claimsOf(active).jti], 'only the active session is listed')
  t.same(await ctx.redis.zrange(index, '0', '-1'), [claimsOf(active).jti], 'the idle one was pruned from the index')
  t.same(await ctx.redis.zrange(keysOf(ctx).created(String(claimsOf(active).user_id)), '0', '-1'), [claimsOf(active).jti], 'and from the creation index')
  t.equal((await me(ctx.app, `Token token=${idle}`)).statusCode, 401)
})

t.test('TRUST_PROXY decides whose address is recorded', async (t) => {
  const forwarded = { 'x-forwarded-for': '203.0.113.7' }
  const recordedIp = async (env: Record<string, string>) => {
    const ctx = await buildTestApp(t, env)
    const { email } = await newSession(ctx)
    const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: forwarded, payload: { email, password: PASSWORD } })
    return (await call(ctx.app, 'GET', '/sessions', res.json().token)).json().sessions.find((s: { current: boolean }) => s.current).ip
  }
  t.equal(await recordedIp({}), '127.0.0.1', 'by default X-Forwarded-For is not believed')
  t.equal(await recordedIp({ TRUST_PROXY: '127.0.0.1' }), '203.0.113.7', 'through a trusted proxy it is')
  t.equal(await recordedIp({ TRUST_PROXY: '10.0.0.0/8' }), '127.0.0.1', 'but not from an untrusted one')
  t.equal(await recordedIp({ TRUST_PROXY: '1' }), '203.0.113.7', 'or by hop count')
})
