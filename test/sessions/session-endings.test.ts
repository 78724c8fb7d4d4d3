import t from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { login, me, newAdmin, newSession, PASSWORD, signUp } from '../helpers/http.js'
import { scanKeys } from '../helpers/redis.js'

// A 401 session_expired says why the session ended (docs/api.md, "Why a session ended"), and the
// memory of it is bounded: one key per single revocation, for what was left of its window; one
// record per user for a revoke-all, never one per session.

const call = (ctx: TestContext, method: 'GET' | 'PUT' | 'DELETE', url: string, token: string, payload?: object) =>
  ctx.app.inject({ method, url, headers: { authorization: `Token token=${token}` }, ...(payload && { payload }) })

async function endingOf (ctx: TestContext, token: string) {
  const res = await me(ctx.app, `Token token=${token}`)
  const { error, reason, cause } = res.json()
  return { status: res.statusCode, error, reason, cause }
}

t.test('why a session ended, as its app is told', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '3' })

  t.test("its own logout: logged_out; ended from the user's other session: revoked, signed_out_elsewhere", async (t) => {
    const { token, email } = await newSession(ctx)
    const { token: other } = await login(ctx.app, email)
    const third = (await login(ctx.app, email)).token
    t.equal((await call(ctx, 'DELETE', '/sessions/current', token)).statusCode, 204)
    t.same(await endingOf(ctx, token), { status: 401, error: 'session_expired', reason: 'logged_out', cause: undefined })
    const thirdId = JSON.parse(Buffer.from(third.split('.')[1]!, 'base64url').toString()).jti
    t.equal((await call(ctx, 'DELETE', `/sessions/${thirdId}`, other)).statusCode, 204)
    t.same(await endingOf(ctx, third), { status: 401, error: 'session_expired', reason: 'revoked', cause: 'signed_out_elsewhere' })
    t.equal((await me(ctx.app, `Token token=${other}`)).statusCode, 200, 'the session that did it lives on')
  })

  t.test("a password change: the user's other sessions are revoked, password_changed; the one that changed it lives", async (t) => {
    const { token, email } = await newSession(ctx)
    const { token: phone } = await login(ctx.app, email)
    const res = await call(ctx, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: 'a brand new passphrase' })
    t.ok(res.statusCode < 300, `the password changed (${res.statusCode})`)
    t.same(await endingOf(ctx, phone), { status: 401, error: 'session_expired', reason: 'revoked', cause: 'password_changed' })
    t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
    // The kept session, once gone for another reason, is not said to be revoked by that change.
    const keptId = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
    await ctx.redis.del(`${ctx.config.redisKeyPrefix}sess:{${keptId.user_id}}:${keptId.jti}`)
    t.equal((await endingOf(ctx, token)).reason, 'idle', 'the session a revoke-all kept, lost later with nothing remembered: idle')
  })

  t.test('logout everywhere, and an admin: signed_out_elsewhere, admin', async (t) => {
    const { token, email, user } = await newSession(ctx)
    const { token: laptop } = await login(ctx.app, email)
    t.equal((await call(ctx, 'DELETE', '/sessions', token)).statusCode, 200)
    t.same(await endingOf(ctx, laptop), { status: 401, error: 'session_expired', reason: 'revoked', cause: 'signed_out_elsewhere' })
    const admin = await newAdmin(ctx)
    t.equal((await call(ctx, 'DELETE', `/admin/users/${user.id}/sessions`, admin.token)).statusCode, 200)
    t.same(await endingOf(ctx, token), { status: 401, error: 'session_expired', reason: 'revoked', cause: 'admin' })
    const { token: again } = await login(ctx.app, email)
    const id = JSON.parse(Buffer.from(again.split('.')[1]!, 'base64url').toString()).jti
    t.equal((await call(ctx, 'DELETE', `/admin/users/${user.id}/sessions/${id}`, admin.token)).statusCode, 204)
    t.same(await endingOf(ctx, again), { status: 401, error: 'session_expired', reason: 'revoked', cause: 'admin' })
  })

  t.test('a role change: role_changed; the session cap: session_limit', async (t) => {
    const { token, user, email } = await newSession(ctx)
    const admin = await newAdmin(ctx)
    t.equal((await call(ctx, 'PUT', `/admin/users/${user.id}/role`, admin.token, { role: 'admin' })).statusCode, 200)
    t.same(await endingOf(ctx, token), { status: 401, error: 'session_expired', reason: 'revoked', cause: 'role_changed' })
    const oldest = (await login(ctx.app, email)).token
    for (let i = 0; i < 3; i++) await login(ctx.app, email)
    t.same(await endingOf(ctx, oldest), { status: 401, error: 'session_expired', reason: 'revoked', cause: 'session_limit' })
  })

  t.test('past its absolute end: max_age; forgotten or lost: idle; a cause nobody knows is left out', async (t) => {
    const { token, user } = await newSession(ctx)
    const { jti } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
    await ctx.redis.del(`${ctx.config.redisKeyPrefix}sess:{${user.id}}:${jti}`)
    t.same(await endingOf(ctx, token), { status: 401, error: 'session_expired', reason: 'idle', cause: undefined }, 'a key Redis let go, with nothing remembered')
    await ctx.redis.set(`${ctx.config.redisKeyPrefix}ended:{${user.id}}:${jti}`, 'gremlins', 'PX', 60_000)
    t.same(await endingOf(ctx, token), { status: 401, error: 'session_expired', reason: 'revoked', cause: undefined })
    const missing = await me(ctx.app, 'Token token=not-a-token')
    t.same(missing.json(), { error: 'invalid_token', message: 'The token is invalid' }, 'only session_expired says why')
  })
})

t.test('the memory of endings is bounded', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '60' })
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  const tokens = []
  for (let i = 0; i < 20; i++) tokens.push((await login(ctx.app, email)).token)
  t.equal((await call(ctx, 'DELETE', '/sessions?all=true', tokens[0]!)).statusCode, 200)
  t.same(await scanKeys(ctx.redis, `${ctx.config.redisKeyPrefix}ended:`), [], 'a revoke-all of 20 sessions writes no key per session')
  const record = await ctx.redis.hgetall(`${ctx.config.redisKeyPrefix}user:{${user.id}}:revoked`)
  t.same(record, { at: await ctx.redis.get(`${ctx.config.redisKeyPrefix}user:{${user.id}}:cutoff`), reason: 'signed_out_elsewhere', kept: '' }, 'one record per user, at the cutoff')
  for (const token of tokens) t.equal((await endingOf(ctx, token)).cause, 'signed_out_elsewhere')

  const { token } = await login(ctx.app, email)
  const { jti } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
  t.equal((await call(ctx, 'DELETE', '/sessions/current', token)).statusCode, 204)
  const left = await ctx.redis.pttl(`${ctx.config.redisKeyPrefix}ended:{${user.id}}:${jti}`)
  t.ok(left > 0 && left <= 60_000, `a logout is remembered for at most what was left of its window (${left} ms)`)
})
