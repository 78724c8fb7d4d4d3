import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { call, login, me, newAdmin, newSession } from '../helpers/http.js'
import { touchUntilTtlAtMost } from '../helpers/redis.js'

// Two API instances on one Redis (or one Cluster, under npm run test:cluster) and one prefix, as
// behind a load balancer: they share nothing but Redis and Postgres.
t.test('two instances: a session from one works on the other, a logout is seen at once, a TTL change within a second', async (t) => {
  const a = await buildTestApp(t)
  const b = await buildTestApp(t, { REDIS_KEY_PREFIX: a.config.redisKeyPrefix })

  const { token, email } = await newSession(a)
  t.equal((await me(b.app, `Token token=${token}`)).statusCode, 200, 'created on A, used on B')
  const second = await login(b.app, email)
  t.equal((await me(a.app, `Token token=${second.token}`)).statusCode, 200, 'created on B, used on A')

  t.equal((await call(b.app, 'DELETE', '/sessions/current', token)).statusCode, 204, 'logged out on B')
  t.equal((await me(a.app, `Token token=${token}`)).statusCode, 401, 'A refuses it on the very next request')
  t.equal((await me(a.app, `Token token=${second.token}`)).statusCode, 200, 'the other session is untouched')

  const admin = await newAdmin(a)
  const changed = await call(a.app, 'PUT', '/admin/settings/session-ttl', admin.token, { ttl_seconds: 30 })
  t.equal(changed.statusCode, 200, 'TTL set to 30 s on A')
  const since = Date.now()
  const pttl = await touchUntilTtlAtMost(t, b, second.token, 30_000, since)
  t.ok(pttl <= 30_000 && pttl > 25_000, `B slides sessions with the new TTL within a second (PTTL ${pttl} ms after ${Date.now() - since} ms)`)
})
