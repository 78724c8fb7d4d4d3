import t from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { PASSWORD, signUp } from '../helpers/http.js'
import { sleep } from '../helpers/wait.js'

// Each client (the audience its token is bound to, JWT-Aud) can have its own idle window and
// maximum age, set live by ops (docs/ops.md, "Client policies"); every other client has the global one.

const loginAs = async (ctx: TestContext, email: string, audience?: string) => {
  const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: audience ? { 'jwt-aud': audience } : {}, payload: { email, password: PASSWORD } })
  t.equal(res.statusCode, 201, res.body)
  return res.json() as { token: string; expires_at: string; max_expires_at: string; idle_timeout_seconds: number }
}
const meAs = (ctx: TestContext, token: string, audience?: string) =>
  ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Token token=${token}`, ...(audience && { 'jwt-aud': audience }) } })

t.test('a client with a long window stays signed in past the global TTL; others do not', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '2', SESSION_MAX_AGE_SECONDS: '86400' })
  await ctx.app.sessionTtl.setClient('ios', 3600, null, 'test')
  const email = ctx.email()
  await signUp(ctx.app, email)
  const ios = await loginAs(ctx, email, 'ios')
  const web = await loginAs(ctx, email)
  const android = await loginAs(ctx, email, 'android')
  t.equal(ios.idle_timeout_seconds, 3600, "the login tells the app its client's window")
  t.equal(web.idle_timeout_seconds, 2)
  t.equal(android.idle_timeout_seconds, 2, 'a client ops never named gets the global window, never a longer one')
  const { user_id: userId, jti } = JSON.parse(Buffer.from(ios.token.split('.')[1]!, 'base64url').toString())
  t.equal(await ctx.redis.hget(`${ctx.config.redisKeyPrefix}sess:{${userId}}:${jti}`, 'aud'), 'ios', 'the session hash records the client whose policy it falls under')

  await sleep(3000)
  t.equal((await meAs(ctx, ios.token, 'ios')).statusCode, 200, 'idle longer than the global TTL, still signed in')
  t.match((await meAs(ctx, web.token)).json(), { error: 'session_expired', reason: 'idle' })
  t.match((await meAs(ctx, android.token, 'android')).json(), { error: 'session_expired', reason: 'idle' })
  t.equal((await meAs(ctx, ios.token, 'android')).json().error, 'invalid_token', 'a token bound to one client is refused as another')

  const list = await ctx.app.inject({ method: 'GET', url: '/sessions', headers: { authorization: `Token token=${ios.token}`, 'jwt-aud': 'ios' } })
  t.equal(list.statusCode, 200, list.body)
  const listed = list.json().sessions.find((s: { current: boolean }) => s.current)
  t.ok(Date.parse(listed.expires_at) - Date.now() > 3500 * 1000 - 10_000, 'the device list shows the window it falls under')

  // Ops shorten it live: the session is over at its next request.
  await ctx.app.sessionTtl.setClient('ios', 1, null, 'test')
  await sleep(1500)
  t.match((await meAs(ctx, ios.token, 'ios')).json(), { error: 'session_expired', reason: 'idle' }, 'a shortened window applies at once')
})

t.test("a client's maximum age: new logins' tokens end with it, and lowering it ends older sessions", async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_AGE_SECONDS: '86400' })
  await ctx.app.sessionTtl.setClient('kiosk', 600, 3600, 'test')
  const email = ctx.email()
  await signUp(ctx.app, email)
  const kiosk = await loginAs(ctx, email, 'kiosk')
  const claims = JSON.parse(Buffer.from(kiosk.token.split('.')[1]!, 'base64url').toString())
  t.equal(claims.exp - claims.iat, 3600, "the token's exp is the client's maximum age")
  t.equal(Date.parse(kiosk.max_expires_at), claims.exp * 1000)
  await ctx.app.sessionTtl.setClient('kiosk', 1, 1, 'test')
  await sleep(1200)
  t.match((await meAs(ctx, kiosk.token, 'kiosk')).json(), { error: 'session_expired', reason: 'max_age' })
})

t.test("ops end every session of one client in one step; that client's next login works", async (t) => {
  const ctx = await buildTestApp(t)
  const email = ctx.email()
  await signUp(ctx.app, email)
  const sessions = [await loginAs(ctx, email, 'ios'), await loginAs(ctx, email, 'ios')]
  const web = await loginAs(ctx, email)
  await ctx.app.sessionTtl.endClient('ios', 'test')
  for (const { token } of sessions) t.match((await meAs(ctx, token, 'ios')).json(), { error: 'session_expired', reason: 'revoked', cause: 'client_ended' })
  t.equal((await meAs(ctx, web.token)).statusCode, 200, 'other clients are untouched')
  const again = await loginAs(ctx, email, 'ios')
  t.equal((await meAs(ctx, again.token, 'ios')).statusCode, 200)
  t.ok((await ctx.app.sessionTtl.read()).clients.some((c) => c.client === 'ios' && c.endedBefore !== null), 'the ending is listed')
})

t.test('what may be set, and what a hand-written value does', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_AGE_SECONDS: '86400', SESSION_TTL_SECONDS: '60' })
  const ttl = ctx.app.sessionTtl
  await t.rejects(ttl.setClient('ios', 7200, 3600, 'test'), /idle window must not exceed/)
  await t.rejects(ttl.setClient('ios', 60, 86401, 'test'), /SESSION_MAX_AGE_SECONDS/)
  await t.rejects(ttl.setClient('ios', 0, null, 'test'), /at least 1 second/)
  await t.rejects(ttl.setClient('ios app', 60, null, 'test'), /audience/)
  await t.rejects(ttl.setClient('', 60, null, 'test'), /audience/)
  await ttl.setClient('ios', 3600, null, 'test')
  t.same(ttl.windowFor('ios'), { ttlSeconds: 3600, maxAgeSeconds: 86400 })
  t.same(ttl.windowFor('IOS'), { ttlSeconds: 60, maxAgeSeconds: 86400 }, 'names are exact, as the audience binding is: another spelling is another (unknown) client')
  const config = `${ctx.config.redisKeyPrefix}config`
  await ctx.redis.hset(config, 'client_ttl_seconds:tv', '15m', 'client_ttl_seconds:car', '999999999', 'client_ended_before:watch', 'soon')
  const state = await ttl.read()
  t.match(state.clients.find((c) => c.client === 'tv'), { ttlSeconds: null }, 'not a number of seconds: ignored, the global window applies')
  t.match(state.clients.find((c) => c.client === 'car'), { ttlSeconds: null }, 'beyond SESSION_MAX_AGE_SECONDS: ignored')
  t.match(state.clients.find((c) => c.client === 'watch'), { endedBefore: Number.MAX_SAFE_INTEGER }, 'an ending that is not a time fails closed')
  await ttl.resetClient('ios', 'test')
  t.same(ttl.windowFor('ios'), { ttlSeconds: 60, maxAgeSeconds: 86400 }, 'reset: the global policy again')
})

t.test('every instance follows a change within a second', async (t) => {
  const ctx = await buildTestApp(t)
  const other = await buildTestApp(t, { REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix })
  await ctx.app.sessionTtl.setClient('ios', 7 * 86400, null, 'test')
  await sleep(1100)
  t.same(other.app.sessionTtl.windowFor('ios').ttlSeconds, 7 * 86400)
})
