import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { me, newSession } from '../helpers/http.js'
import { sessionKeyOf } from '../helpers/redis.js'

t.test('DELETE /sessions/current', async (t) => {
  const ctx = await buildTestApp(t)

  t.test('deletes the session key; the token is dead afterwards', async (t) => {
    const { token } = await newSession(ctx)
    const key = sessionKeyOf(ctx, token)
    const other = await newSession(ctx)

    const res = await ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { authorization: `Token token="${token}"` } })
    t.equal(res.statusCode, 204)
    t.equal(res.body, '')
    t.equal(await ctx.redis.exists(key), 0, 'key gone')

    const after = await me(ctx.app, `Token token=${token}`)
    t.equal(after.statusCode, 401)
    t.equal(after.json().error, 'session_expired')
    t.equal((await ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { authorization: `Token token=${token}` } })).statusCode, 401, 'a second logout is 401')
    t.equal((await me(ctx.app, `Token token=${other.token}`)).statusCode, 200, 'other sessions are untouched')
  })

  t.test('works when the client sends Content-Type: application/json with no body', async (t) => {
    const { token } = await newSession(ctx)
    const headers = { authorization: `Token token=${token}`, 'content-type': 'application/json' }
    t.equal((await ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers })).statusCode, 204)
    t.equal(await ctx.redis.exists(sessionKeyOf(ctx, token)), 0)
  })

  t.test('needs a session', async (t) => {
    const res = await ctx.app.inject({ method: 'DELETE', url: '/sessions/current' })
    t.equal(res.statusCode, 401)
    t.equal(res.json().error, 'missing_token')
  })

  t.test('logout racing concurrent requests never leaves the session alive', async (t) => {
    for (let round = 0; round < 10; round++) {
      const { token } = await newSession(ctx)
      const key = sessionKeyOf(ctx, token)
      const authorization = `Token token=${token}`
      const requests = Array.from({ length: 40 }, (_, i) =>
        i === 20 ? ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { authorization } }) : me(ctx.app, authorization)
      )
      const results = await Promise.all(requests)
      t.equal(results[20]!.statusCode, 204, `round ${round}: logout succeeded`)
      t.ok(results.every((r) => r.statusCode === 200 || r.statusCode === 204 || r.statusCode === 401), 'only 200/204/401')
      t.equal(await ctx.redis.exists(key), 0, `round ${round}: no key left behind`)
      t.equal((await me(ctx.app, authorization)).statusCode, 401, `round ${round}: token dead`)
    }
  })
})
