import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { call, claimsOf, me, newAdmin, newSession, signAsGatehouse } from '../helpers/http.js'
import { sessionKeyOf } from '../helpers/redis.js'
import { sleep } from '../helpers/wait.js'
import { TOUCH_WRITE_INTERVAL_MS } from '../../src/sessions/scripts/index.js'

const SERVICE = 'service-credential-0123456789abcdef-0123456789'
const OTHER_SERVICE = 'other-service-credential-abcdefghijklmnopqrstuv'

t.test('POST /introspect (RFC 7662)', async (t) => {
  const ctx = await buildTestApp(t, { INTROSPECTION_TOKENS: `${SERVICE}, ${OTHER_SERVICE}` })
  const introspect = (payload: object | string, credential: string | null = SERVICE, contentType = 'application/json') =>
    ctx.app.inject({
      method: 'POST',
      url: '/introspect',
      headers: { 'content-type': contentType, ...(credential === null ? {} : { authorization: `Bearer ${credential}` }) },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    })

  t.test('a live session: active, with its user, role and times; not extended', async (t) => {
    const { token, user } = await newSession(ctx)
    const claims = claimsOf(token)
    const key = sessionKeyOf(ctx, token)
    const before = { hash: await ctx.redis.hgetall(key), expiry: await ctx.redis.pexpiretime(key) }
    await sleep(20) // the clock moves on, so a touch would show

    const res = await introspect({ token })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    const body = res.json()
    t.same(body, {
      active: true,
      sub: user.id,
      user_id: user.id,
      role: 'user',
      jti: claims.jti,
      iss: 'gatehouse',
      token_type: 'access_token',
      iat: claims.iat,
      exp: claims.exp,
      created_at: claims.created_at,
      last_seen_at: Number(before.hash.last_seen_at),
      expires_at: before.expiry,
    })
    t.same(await ctx.redis.hgetall(key), before.hash, 'last_seen_at unchanged')
    t.equal(await ctx.redis.pexpiretime(key), before.expiry, 'expiry unchanged')

    const other = await introspect({ token }, OTHER_SERVICE)
    t.equal(other.json().active, true, 'every configured credential works')
  })

  t.test('extend: true slides the session as a request of its own would', async (t) => {
    const { token } = await newSession(ctx)
    const key = sessionKeyOf(ctx, token)
    const expiry = await ctx.redis.pexpiretime(key)
    // Past the write interval (a session's use is written at most once a second), so the slide shows.
    await sleep(TOUCH_WRITE_INTERVAL_MS + 50)
    const res = await introspect({ token, extend: true })
    t.equal(res.json().active, true)
    t.ok((await ctx.redis.pexpiretime(key)) > expiry, 'the expiry moved')
    t.equal(res.json().expires_at, await ctx.redis.pexpiretime(key))
  })

  t.test('RFC 7662 form encoding works too', async (t) => {
    const { token } = await newSession(ctx)
    const res = await introspect(`token=${encodeURIComponent(token)}&token_type_hint=access_token`, SERVICE, 'application/x-www-form-urlencoded')
    t.equal(res.statusCode, 200)
    t.equal(res.json().active, true)
    const extended = await introspect(`token=${encodeURIComponent(token)}&extend=true`, SERVICE, 'application/x-www-form-urlencoded')
    t.equal(extended.json().active, true)
    const elsewhere = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'email=a%40b.c&password=x' })
    t.equal(elsewhere.statusCode, 415, 'form bodies are accepted on /introspect only')
  })

  t.test('revoked, expired, forged and malformed tokens are inactive, and say nothing else', async (t) => {
    const revoked = await newSession(ctx)
    t.equal((await call(ctx.app, 'DELETE', '/sessions/current', revoked.token)).statusCode, 204)

    const expired = await newSession(ctx)
    await ctx.redis.del(sessionKeyOf(ctx, expired.token)) // as Redis does when the TTL runs out

    const live = await newSession(ctx)
    const claims = claimsOf(live.token)
    const forged = signAsGatehouse(claims, 'not-the-secret-not-the-secret-not-the-secret')
    const otherUser = signAsGatehouse({ ...claims, user_id: revoked.user.id })
    const [header, payload] = live.token.split('.')
    const algNone = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`
    const pastExp = signAsGatehouse({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 })

    for (const [name, token] of [
      ['revoked', revoked.token],
      ['expired', expired.token],
      ['forged signature', forged],
      ['another user id in a token for a real session', otherUser],
      ['alg none', algNone],
      ['past exp', pastExp],
      ['not a JWT', 'hello'],
      ['header only', `${header}..`],
    ] as const) {
      const res = await introspect({ token })
      t.equal(res.statusCode, 200, name)
      t.same(res.json(), { active: false }, name)
    }
    t.equal((await introspect({ token: revoked.token, extend: true })).json().active, false, 'extend cannot bring one back')
    t.equal(await ctx.redis.exists(sessionKeyOf(ctx, revoked.token)), 0)
    t.equal((await me(ctx.app, `Token token=${live.token}`)).statusCode, 200, 'the forged copies did not harm the real session')
  })

  t.test('a session idle for longer than a shortened TTL is inactive', async (t) => {
    const admin = await newAdmin(ctx)
    const { token } = await newSession(ctx)
    await sleep(1200) // idle longer than the TTL about to be set
    t.equal((await call(ctx.app, 'PUT', '/admin/settings/session-ttl', admin.token, { ttl_seconds: 1 })).statusCode, 200)
    t.same((await introspect({ token })).json(), { active: false })
    t.equal((await call(ctx.app, 'DELETE', '/admin/settings/session-ttl', admin.token)).statusCode, 200)
  })

  t.test('an admin session reports role admin', async (t) => {
    const admin = await newAdmin(ctx)
    t.match((await introspect({ token: admin.token })).json(), { active: true, role: 'admin', user_id: admin.user.id })
  })

  t.test('without a valid service credential: 401, and the token is not looked at', async (t) => {
    const { token } = await newSession(ctx)
    for (const [name, credential] of [
      ['none', null],
      ['wrong', 'service-credential-0123456789abcdef-0123456780'],
      ['a prefix of a real one', SERVICE.slice(0, 40)],
      ['empty', ''],
    ] as const) {
      const res = await introspect({ token }, credential)
      t.equal(res.statusCode, 401, name)
      t.equal(res.json().error, 'invalid_client', name)
      t.equal(res.headers['www-authenticate'], 'Bearer realm="introspection"', name)
    }
    const userToken = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Token token=${token}` }, payload: { token } })
    t.equal(userToken.statusCode, 401, "a user's session token is not a service credential")
  })

  t.test('bad bodies get 400', async (t) => {
    for (const [name, payload] of [
      ['no token', {}],
      ['empty token', { token: '' }],
      ['token not a string', { token: 42 }],
      ['unknown field', { token: 'x', scope: 'all' }],
      ['extend not a boolean', { token: 'x', extend: 'yes' }],
      ['oversized token', { token: 'x'.repeat(5000) }],
    ] as const) {
      const res = await introspect(payload)
      t.equal(res.statusCode, 400, name)
      t.equal(res.json().error, 'bad_request', name)
    }
    t.equal((await introspect('{"token":', SERVICE)).statusCode, 400, 'broken JSON')
  })
})

t.test('a session whose TTL ran out in Redis is inactive', async (t) => {
  const ctx = await buildTestApp(t, { INTROSPECTION_TOKENS: SERVICE, SESSION_TTL_SECONDS: '1' })
  const { token } = await newSession(ctx)
  const introspect = () => ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${SERVICE}` }, payload: { token } })
  t.equal((await introspect()).json().active, true)
  await sleep(1200) // the TTL running out is the subject
  t.same((await introspect()).json(), { active: false })
})

t.test('without INTROSPECTION_TOKENS there is no introspection endpoint', async (t) => {
  const ctx = await buildTestApp(t)
  const res = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${SERVICE}` }, payload: { token: 'x' } })
  t.equal(res.statusCode, 404)
})

t.test('INTROSPECTION_TOKENS entries must be long', async (t) => {
  t.rejects(buildTestApp(t, { INTROSPECTION_TOKENS: 'short' }), /INTROSPECTION_TOKENS.*at least 32 characters/)
})
