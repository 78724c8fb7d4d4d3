import { Cluster } from 'ioredis'
import t from 'tap'
import { masters } from '../../src/redis/client.js'
import { countSessions } from '../../src/sessions/store.js'
import { buildTestApp } from '../helpers/app.js'
import { call, claimsOf, login, newSession, signUp } from '../helpers/http.js'
import { keysOf, scanKeys, streamEvents } from '../helpers/redis.js'
import { eventually, sleep } from '../helpers/wait.js'

// What only a real Cluster shows: where keys land, and the per-server parts (SCAN, keyspace
// notifications). `npm run test:cluster` runs this file, and the session suite, against three
// primaries; the plain `tap` run has no cluster and skips it.
const skip = !process.env.TEST_REDIS_CLUSTER_NODES && 'needs a Redis Cluster: npm run test:cluster'

t.test('a user\'s keys share one slot, and users spread over the primaries', { skip }, async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '2' })
  const cluster = ctx.redis as Cluster
  const users = []
  for (let i = 0; i < 12; i++) users.push(await newSession(ctx))
  const { user, email } = users[0]!
  await login(ctx.app, email)
  await login(ctx.app, email) // over the cap: evicts, in the same slot
  const res = await call(ctx.app, 'DELETE', '/sessions?all=true', users[1]!.token) // a revoke-all, too
  t.equal(res.statusCode, 200)

  const userKeys = (await scanKeys(ctx.redis, ctx.config.redisKeyPrefix)).filter((key) => key.includes(`{${user.id}}`))
  t.ok(userKeys.length >= 4, `the user's session, owner, index and generation keys (${userKeys.length})`)
  const slots = new Set(await Promise.all(userKeys.map((key) => cluster.cluster('KEYSLOT', key))))
  t.equal(slots.size, 1, 'all in one slot')
  t.equal(Number([...slots][0]), Number(await cluster.cluster('KEYSLOT', `{${user.id}}`)), 'the slot of the hash tag, the user id')

  const perNode = await Promise.all(masters(cluster).map(async (node) => (await scanKeys(node, `${ctx.config.redisKeyPrefix}sess:`)).length))
  t.equal(perNode.length, 3, 'three primaries')
  t.ok(perNode.filter((n) => n > 0).length >= 2, `sessions of 12 users sit on more than one primary (${perNode.join(', ')})`)
  t.equal(await countSessions(ctx.redis, ctx.config.redisKeyPrefix), perNode.reduce((a, b) => a + b), 'the session count scans every primary')
})

t.test('Redis expiring sessions on every primary publishes one expired event each', { skip }, async (t) => {
  // The cluster is this run's own: turning on keyspace notifications touches nothing shared.
  const env = { SESSION_TTL_SECONDS: '1', EXPIRED_EVENTS: 'configure' }
  const a = await buildTestApp(t, env)
  const b = await buildTestApp(t, { ...env, REDIS_KEY_PREFIX: a.config.redisKeyPrefix })
  // Both have subscribed on every primary, and each primary announces expiries.
  const cluster = a.redis as Cluster
  await cluster.ping()
  await eventually(5000, async () => (await Promise.all(masters(cluster).map(async (node) => {
    const [, listeners] = (await node.pubsub('NUMSUB', '__keyevent@0__:expired')) as [string, number]
    const [, flags = ''] = (await node.config('GET', 'notify-keyspace-events')) as string[]
    return listeners >= 2 && flags.includes('E') && flags.includes('x')
  }))).every(Boolean))
  const sessions = []
  for (let i = 0; i < 9; i++) {
    const user = await signUp(a.app, a.email())
    sessions.push({ user, token: (await login(i % 2 ? a.app : b.app, user.email)).token })
  }
  const nodesUsed = new Set(await Promise.all(sessions.map(async ({ user }) => {
    const slot = Number(await (a.redis as Cluster).cluster('KEYSLOT', `{${user.id}}`))
    return (a.redis as Cluster).slots[slot]?.[0]
  })))
  t.ok(nodesUsed.size >= 2, `the sessions live on ${nodesUsed.size} primaries`)

  const expired = async () => (await streamEvents(a)).filter((e) => e.type === 'expired')
  await eventually(8000, async () => (await expired()).length >= sessions.length, { intervalMs: 200 })
  await sleep(300) // time for a duplicate, if there were one: a sleep, since nothing should come
  const events = await expired()
  t.equal(events.length, sessions.length, 'one event per session, none twice')
  t.same(
    events.map((e) => `${e.user_id}/${e.session_id}/${e.reason}`).sort(),
    sessions.map(({ user, token }) => `${user.id}/${claimsOf(token).jti}/ttl`).sort(),
    'each naming its user and session'
  )
  t.same(await Promise.all(sessions.map(({ user, token }) => a.redis.exists(keysOf(a).owner(user.id, String(claimsOf(token).jti))))), sessions.map(() => 0), 'every owner key was consumed')
})
