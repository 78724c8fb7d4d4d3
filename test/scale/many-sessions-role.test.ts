import t from 'tap'
import { call, login, newAdmin } from '../helpers/http.js'
import { scanKeys } from '../helpers/redis.js'
import { expectBounded, MANY, manySessions } from './many-sessions.js'

t.test(`an admin with ${MANY} sessions is demoted`, async (t) => {
  const world = await manySessions(t)
  const { ctx } = world
  const target = await newAdmin(ctx)
  await world.populate(target.user)
  const other = await newAdmin(ctx)

  expectBounded(t, await world.watch(async () => {
    const res = await call(ctx.app, 'PUT', `/admin/users/${target.user.id}/role`, other.token, { role: 'user' })
    t.equal(res.statusCode, 200)
    t.equal(res.json().user.role, 'user')
  }), 'PUT /admin/users/:id/role')
  t.equal((await call(ctx.app, 'GET', '/admin/settings/session-ttl', target.token)).statusCode, 401, 'the old admin session is gone')
  t.same(await scanKeys(ctx.redis, `${ctx.config.redisKeyPrefix}sess:{${target.user.id}}`), [], 'and every key of it')
  const { token } = await login(ctx.app, target.email)
  t.equal((await call(ctx.app, 'GET', '/admin/settings/session-ttl', token)).statusCode, 403, 'a new login is a user\'s')
})
