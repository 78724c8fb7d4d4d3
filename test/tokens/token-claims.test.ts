import { TOKEN_TYPE } from '@gatehouse/session-reader/token'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_JWT_PRIVATE_KEY, TEST_JWT_SECRET } from '../helpers/config.js'
import { claimsOf, headerOf, me, newSession, PASSWORD } from '../helpers/http.js'
import { eventually } from '../helpers/wait.js'

// What Gatehouse checks beyond the signature (RFC 8725 §3.9-3.11): the token's type, its issuer,
// and the audience a client bound it to at login.

/** The same claims signed with the deployment's own key, under another header or with changed claims. */
function resign (token: string, header: Record<string, unknown>, change: (claims: Record<string, unknown>) => Record<string, unknown>) {
  const { alg, kid, ...rest } = headerOf(token)
  const sign = createSigner({ key: alg === 'HS256' ? TEST_JWT_SECRET : TEST_JWT_PRIVATE_KEY, algorithm: alg, kid, header: { alg, ...rest, ...header } })
  return sign(change(claimsOf(token)))
}

t.test('tokens are typed and name their issuer; Gatehouse accepts no other', async (t) => {
  const ctx = await buildTestApp(t)
  const { token } = await newSession(ctx)
  t.equal(headerOf(token).typ, TOKEN_TYPE)
  t.equal(claimsOf(token).iss, 'gatehouse')
  const status = async (candidate: string) => (await me(ctx.app, `Token token=${candidate}`)).statusCode

  t.equal(await status(resign(token, {}, (c) => c)), 200, 'the same token re-signed: the control')
  const { iss, ...legacy } = claimsOf(token)
  t.equal(iss, 'gatehouse')
  t.equal(await status(resign(token, { typ: 'JWT' }, () => legacy)), 200, 'a token from before typing (typ JWT, no iss) is accepted until its exp')
  t.equal(await status(resign(token, {}, (c) => ({ ...c, iss: 'https://evil.example' }))), 401, 'another issuer')
  t.equal(await status(resign(token, {}, () => legacy)), 401, 'typed without an issuer')
  t.equal(await status(resign(token, { typ: 'at+jwt' }, (c) => c)), 401, 'another type')
  t.equal(await status(resign(token, { typ: 'JWT' }, (c) => c)), 401, 'typ JWT with an issuer: neither kind')
  t.equal(await status(resign(token, { typ: `application/${TOKEN_TYPE}` }, (c) => c)), 401, 'the type is compared exactly')
})

t.test('JWT_VERIFIED_CACHE_SIZE=0: every request verifies the signature, and nothing else changes', async (t) => {
  const ctx = await buildTestApp(t, { JWT_VERIFIED_CACHE_SIZE: '0' })
  t.equal(ctx.config.jwt.verifiedCacheSize, 0)
  const { token } = await newSession(ctx)
  for (let i = 0; i < 3; i++) t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
  t.equal((await me(ctx.app, `Token token=${resign(token, {}, (c) => ({ ...c, iss: 'https://evil.example' }))}`)).statusCode, 401)
  await ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { authorization: `Token token=${token}` } })
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401, 'logged out')
})

t.test('the window for untyped tokens closes by itself, for Gatehouse as for readers', async (t) => {
  const ctx = await buildTestApp(t)
  const { token } = await newSession(ctx)
  const { iss, ...legacy } = claimsOf(token)
  const untyped = resign(token, { typ: 'JWT' }, () => legacy)
  const config = `${ctx.config.redisKeyPrefix}config`
  const recorded = Number(await ctx.redis.hget(config, 'untyped_tokens_until'))
  t.ok(recorded > Date.now() + ctx.config.sessionMaxAgeSeconds * 1000 - 60_000, 'the first start recorded its end: a maximum age from now')
  t.equal((await me(ctx.app, `Token token=${untyped}`)).statusCode, 200, 'within it, an untyped token passes')

  // A later start keeps the recorded end (HSETNX) rather than opening a new window.
  await ctx.redis.hset(config, 'untyped_tokens_until', String(Date.now() - 1))
  const later = await buildTestApp(t, { REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix })
  t.equal((await me(later.app, `Token token=${untyped}`)).statusCode, 401, 'past the end, it is refused')
  t.equal((await me(later.app, `Token token=${token}`)).statusCode, 200, 'typed tokens are not affected')
  t.ok(Number(await ctx.redis.hget(config, 'untyped_tokens_until')) < Date.now(), 'the end stays where it was recorded')

  // A running instance follows the field: closed by hand (or by another instance), it refuses within a second or so.
  await ctx.redis.hset(config, 'untyped_tokens_until', String(Date.now() + 3_600_000))
  t.ok(await eventually(5000, async () => (await me(ctx.app, `Token token=${untyped}`)).statusCode === 200), 'reopened (for this test), the running instance follows')
  await ctx.redis.hdel(config, 'untyped_tokens_until')
  t.ok(await eventually(5000, async () => (await me(ctx.app, `Token token=${untyped}`)).statusCode === 401), 'removed, it closes on the running instance too (fail closed)')

  // JWT_ACCEPT_UNTYPED=false closes it at once, and says so to every reader through the field.
  const strict = await buildTestApp(t, { JWT_ACCEPT_UNTYPED: 'false' })
  const fresh = await newSession(strict)
  const { iss: _iss, ...legacyFresh } = claimsOf(fresh.token)
  t.equal((await me(strict.app, `Token token=${resign(fresh.token, { typ: 'JWT' }, () => legacyFresh)}`)).statusCode, 401)
  t.equal(await strict.redis.hget(`${strict.config.redisKeyPrefix}config`, 'untyped_tokens_until'), '0')
})

t.test('JWT_ISSUER names the issuer', async (t) => {
  const ctx = await buildTestApp(t, { JWT_ISSUER: 'https://auth.example.com' })
  const { token } = await newSession(ctx)
  t.equal(claimsOf(token).iss, 'https://auth.example.com')
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
  const other = await buildTestApp(t, { REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix })
  t.equal((await me(other.app, `Token token=${token}`)).json().error, 'invalid_token', 'a deployment with the same key but another issuer refuses it')
})

t.test('a client that names an audience at login gets a token bound to it', async (t) => {
  const ctx = await buildTestApp(t)
  const { email } = await newSession(ctx)
  const login = (headers: Record<string, string>) => ctx.app.inject({ method: 'POST', url: '/sessions', headers, payload: { email, password: PASSWORD } })
  const res = await login({ 'jwt-aud': 'com.example.ios' })
  t.equal(res.statusCode, 201)
  const token = res.json().token
  t.equal(claimsOf(token).aud, 'com.example.ios')
  const get = (headers: Record<string, string>) => ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Token token=${token}`, ...headers } })
  t.equal((await get({ 'jwt-aud': 'com.example.ios' })).statusCode, 200)
  t.match((await get({})).json(), { error: 'invalid_token' }, 'without the header')
  t.match((await get({ 'jwt-aud': 'com.example.web' })).json(), { error: 'invalid_token' }, 'another audience')
  t.match((await get({ 'jwt-aud': 'COM.EXAMPLE.IOS' })).json(), { error: 'invalid_token' }, 'another spelling')

  for (const bad of ['', ' ios', 'ios app', 'x'.repeat(129), 'ios\u0000', 'iös']) {
    const refused = await login({ 'jwt-aud': bad })
    t.equal(refused.statusCode, 400, JSON.stringify(bad.slice(0, 20)))
    t.match(refused.json(), { error: 'bad_request', message: /jwt-aud must be/ })
  }
  const unbound = (await login({})).json().token
  t.notOk('aud' in claimsOf(unbound), 'no header at login: an unbound token')
  t.equal((await me(ctx.app, `Token token=${unbound}`)).statusCode, 200)
})

t.test('JWT_AUD_HEADER renames the header; introspection reports iss and aud', async (t) => {
  const credential = 'token-claims-introspection-credential-000000'
  const ctx = await buildTestApp(t, { JWT_AUD_HEADER: 'X-Client-Audience', INTROSPECTION_TOKENS: credential })
  const { email } = await newSession(ctx)
  const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'x-client-audience': 'android' }, payload: { email, password: PASSWORD } })
  const token = res.json().token
  t.equal(claimsOf(token).aud, 'android')
  t.equal((await ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Token token=${token}`, 'x-client-audience': 'android' } })).statusCode, 200)
  const introspected = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${credential}` }, payload: { token } })
  t.match(introspected.json(), { active: true, iss: 'gatehouse', aud: 'android' })
})
