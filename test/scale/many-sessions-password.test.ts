import t from 'tap'
import { call, me, PASSWORD } from '../helpers/http.js'
import { scanKeys } from '../helpers/redis.js'
import { expectBounded, MANY, manySessions } from './many-sessions.js'

t.test(`a user with ${MANY} sessions changes their password`, async (t) => {
  const world = await manySessions(t)
  const { ctx } = world
  const { email, user, token, other } = await world.heavyUser()

  expectBounded(t, await world.watch(async () => {
    const res = await call(ctx.app, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: 'the new passphrase' })
    t.equal(res.statusCode, 204, 'the password is changed')
  }), 'PUT /me/password')
  t.equal((await me(ctx.app, `Token token=${other}`)).statusCode, 401, 'every other session is ended')
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'the one that changed it stays')
  t.same((await scanKeys(ctx.redis, `${ctx.config.redisKeyPrefix}sess:{${user.id}}`)).length, 1, 'and only its key is left')
  t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 401, 'the old password is refused')
  t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: 'the new passphrase' } })).statusCode, 201, 'the new one works')
})
