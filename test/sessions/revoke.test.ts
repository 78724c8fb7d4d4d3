import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { call, claimsOf, login, me, newSession } from '../helpers/http.js'
import { indexed, sessionExists } from '../helpers/redis.js'

t.test('DELETE /sessions/:id ends one of the caller\'s own sessions', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, token: laptop, user } = await newSession(ctx)
  const { token: phone } = await login(ctx.app, email)
  const stranger = await newSession(ctx)

  t.test('another of mine: 204, and it is gone from Redis and the index', async (t) => {
    const res = await call(ctx.app, 'DELETE', `/sessions/${claimsOf(phone).jti}`, laptop)
    t.equal(res.statusCode, 204)
    t.equal((await me(ctx.app, `Token token=${phone}`)).statusCode, 401)
    t.notOk(await sessionExists(ctx, phone))
    t.same(await indexed(ctx, user.id), [claimsOf(laptop).jti])
    t.equal((await call(ctx.app, 'DELETE', `/sessions/${claimsOf(phone).jti}`, laptop)).statusCode, 404, 'a second time: 404')
  })

  t.test('someone else\'s, unknown or malformed ids: the same 404, and nothing is touched', async (t) => {
    for (const id of [claimsOf(stranger.token).jti, 'AAAAAAAAAAAAAAAAAAAAAA', 'not-an-id', '*', 'x'.repeat(64)]) {
      const res = await call(ctx.app, 'DELETE', `/sessions/${encodeURIComponent(String(id))}`, laptop)
      t.equal(res.statusCode, 404, String(id))
      t.same(res.json(), { error: 'session_not_found', message: 'You have no session with this id' })
    }
    t.equal((await me(ctx.app, `Token token=${stranger.token}`)).statusCode, 200, "the stranger's session is alive")
    t.same(await indexed(ctx, stranger.user.id), [claimsOf(stranger.token).jti])
    t.equal((await call(ctx.app, 'DELETE', `/sessions/${'x'.repeat(65)}`, laptop)).statusCode, 400, 'an over-long id is refused outright')
  })

  t.test('the current one: 204, like a logout', async (t) => {
    t.equal((await call(ctx.app, 'DELETE', `/sessions/${claimsOf(laptop).jti}`, laptop)).statusCode, 204)
    t.equal((await me(ctx.app, `Token token=${laptop}`)).statusCode, 401)
    t.same(await indexed(ctx, user.id), [])
  })

  t.test('needs a session', async (t) => {
    t.equal((await ctx.app.inject({ method: 'DELETE', url: `/sessions/${claimsOf(stranger.token).jti}` })).statusCode, 401)
    t.equal((await me(ctx.app, `Token token=${stranger.token}`)).statusCode, 200)
  })
})

t.test('DELETE /sessions ends the others; ?all=true ends the current one too', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, token: keep, user } = await newSession(ctx)
  const others = [await login(ctx.app, email), await login(ctx.app, email)].map((l) => l.token)
  const stranger = await newSession(ctx)

  const res = await call(ctx.app, 'DELETE', '/sessions', keep)
  t.equal(res.statusCode, 200)
  t.same(res.json(), { revoked: 2 })
  for (const token of others) t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401)
  t.equal((await me(ctx.app, `Token token=${keep}`)).statusCode, 200, 'the current session stays')
  t.same(await indexed(ctx, user.id), [claimsOf(keep).jti])
  t.equal((await me(ctx.app, `Token token=${stranger.token}`)).statusCode, 200, "other users' sessions are untouched")

  t.same((await call(ctx.app, 'DELETE', '/sessions?all=false', keep)).json(), { revoked: 0 })
  t.equal((await call(ctx.app, 'DELETE', '/sessions?all=yes', keep)).statusCode, 400, 'all must be true or false')
  t.equal((await call(ctx.app, 'DELETE', '/sessions?every=true', keep)).statusCode, 400, 'unknown parameters are refused')

  await login(ctx.app, email)
  const all = await call(ctx.app, 'DELETE', '/sessions?all=true', keep)
  t.same(all.json(), { revoked: 2 })
  t.equal((await me(ctx.app, `Token token=${keep}`)).statusCode, 401)
  t.same(await indexed(ctx, user.id), [])
})
