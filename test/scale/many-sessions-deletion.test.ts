import t from 'tap'
import { sql } from '../helpers/db.js'
import { me, PASSWORD } from '../helpers/http.js'
import { scanKeys } from '../helpers/redis.js'
import { expectBounded, MANY, manySessions } from './many-sessions.js'

t.test(`a user with ${MANY} sessions deletes the account in the app`, async (t) => {
  const world = await manySessions(t)
  const { ctx } = world
  const { user, token, other } = await world.heavyUser()

  expectBounded(t, await world.watch(async () => {
    const res = await ctx.app.inject({ method: 'DELETE', url: '/me', headers: { authorization: `Token token=${token}` }, payload: { password: PASSWORD } })
    t.equal(res.statusCode, 204, 'the account is deleted')
  }), 'DELETE /me')
  for (const old of [token, other]) t.equal((await me(ctx.app, `Token token=${old}`)).statusCode, 401, 'its sessions are ended')
  t.same(await scanKeys(ctx.redis, `${ctx.config.redisKeyPrefix}sess:{${user.id}}`), [], 'every session key is gone')
  t.same(await sql('SELECT id FROM users WHERE id = $1', [user.id]), [], 'and the row')
  const deleted = (await ctx.redis.xrange(`${ctx.config.redisKeyPrefix}events`, '-', '+')).filter(([, fields]) => fields.includes('user-deleted'))
  t.equal(deleted.length, 1, 'one user-deleted event, after the sessions')
})
