import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { sql } from '../helpers/db.js'
import { call, claimsOf, login, me, newSession, PASSWORD } from '../helpers/http.js'
import { indexed } from '../helpers/redis.js'

const NEW_PASSWORD = 'a brand new passphrase'

t.test('PUT /me/password', async (t) => {
  const ctx = await buildTestApp(t)

  t.test('changes the password and ends every other session; the current one stays', async (t) => {
    const { email, token, user } = await newSession(ctx)
    const other = (await login(ctx.app, email)).token
    const res = await call(ctx.app, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: NEW_PASSWORD })
    t.equal(res.statusCode, 204)
    t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
    t.equal((await me(ctx.app, `Token token=${other}`)).statusCode, 401)
    t.same(await indexed(ctx, user.id), [claimsOf(token).jti])
    const old = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })
    t.equal(old.statusCode, 401, 'the old password no longer logs in')
    t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: NEW_PASSWORD } })).statusCode, 201)
  })

  t.test('a wrong current password: 401 invalid_password, nothing changes, no session ends', async (t) => {
    const { email, token } = await newSession(ctx)
    const other = (await login(ctx.app, email)).token
    for (const current of ['wrong password', `${PASSWORD}${'x'.repeat(80)}`]) {
      const res = await call(ctx.app, 'PUT', '/me/password', token, { current_password: current, new_password: NEW_PASSWORD })
      t.equal(res.statusCode, 401)
      t.same(res.json(), { error: 'invalid_password', message: 'The current password is incorrect' })
    }
    t.equal((await me(ctx.app, `Token token=${other}`)).statusCode, 200)
    t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'the session is fine: invalid_password is not a sign-in-again code')
    await login(ctx.app, email, PASSWORD)
  })

  t.test('bad bodies are 400 and change nothing', async (t) => {
    const { email, token } = await newSession(ctx)
    for (const payload of [
      {},
      { current_password: PASSWORD },
      { current_password: PASSWORD, new_password: 'short' },
      { current_password: PASSWORD, new_password: 'é'.repeat(40) },
      { current_password: PASSWORD, new_password: 12345678 },
      { current_password: PASSWORD, new_password: NEW_PASSWORD, extra: 1 },
    ]) {
      const res = await call(ctx.app, 'PUT', '/me/password', token, payload)
      t.equal(res.statusCode, 400, JSON.stringify(payload))
      t.equal(res.json().error, 'bad_request')
    }
    await login(ctx.app, email, PASSWORD)
  })

  t.test('a deleted account: 401 and its sessions end', async (t) => {
    const { email, token, user } = await newSession(ctx)
    const other = (await login(ctx.app, email)).token
    await sql('DELETE FROM users WHERE id = $1', [user.id])
    const res = await call(ctx.app, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: NEW_PASSWORD })
    t.equal(res.statusCode, 401)
    t.equal(res.json().error, 'session_expired')
    t.same(await indexed(ctx, user.id), [])
    t.equal((await me(ctx.app, `Token token=${other}`)).statusCode, 401)
  })

  t.test('needs a session', async (t) => {
    const res = await ctx.app.inject({ method: 'PUT', url: '/me/password', payload: { current_password: PASSWORD, new_password: NEW_PASSWORD } })
    t.equal(res.statusCode, 401)
  })
})
