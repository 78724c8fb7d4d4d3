import { Redis } from 'ioredis'
import t from 'tap'
import { buildTestApp, captureLogs, type TestContext } from '../helpers/app.js'
import { call, login, me, newSession, PASSWORD } from '../helpers/http.js'
import { sessionKeyOf } from '../helpers/redis.js'
import { eventually } from '../helpers/wait.js'
import { PRIMARY_NAME, startSentinelSetup } from './sentinel.js'

// Sentinel failover, for real: the primary is killed, the Sentinels promote the replica, and the
// service follows without a restart. What users may see meanwhile is 503; never a wrong answer.
t.test('a Sentinel failover: 503 while there is no primary, never a wrong answer, then service again without a restart', async (t) => {
  const setup = await startSentinelSetup()
  let ctx: TestContext
  try {
    ctx = await buildTestApp(t, { REDIS_SENTINELS: setup.sentinels, REDIS_SENTINEL_NAME: PRIMARY_NAME, REDIS_COMMAND_TIMEOUT_MS: '300' })
  } finally {
    // Registered after the app's teardown, so it runs after it: the app's cleanup needs the servers.
    t.teardown(setup.stop)
  }

  const alive = await newSession(ctx)
  const loggedOut = await login(ctx.app, alive.email)
  t.equal((await call(ctx.app, 'DELETE', '/sessions/current', loggedOut.token)).statusCode, 204)
  t.equal((await me(ctx.app, `Token token=${alive.token}`)).statusCode, 200)
  // Asynchronous replication: make sure the replica has what the primary acknowledged, so the
  // test is about failover, not about writes lost with it (docs/scaling.md covers those).
  const primary = new Redis(setup.primaryPort, '127.0.0.1', { retryStrategy: () => null })
  primary.on('error', () => {})
  t.equal(await primary.wait(1, 2000), 1, 'the replica has every write')
  primary.disconnect()

  setup.killPrimary()
  const started = Date.now()
  const seen = { alive: new Map<number, number>(), loggedOut: new Map<number, number>() }
  const count = (map: Map<number, number>, status: number) => map.set(status, (map.get(status) ?? 0) + 1)
  let recoveredAfterMs = 0
  // Requests all through the failover, until both answers are right again (bounded).
  await eventually(30_000, async () => {
    const [a, b] = await Promise.all([me(ctx.app, `Token token=${alive.token}`), me(ctx.app, `Token token=${loggedOut.token}`)])
    count(seen.alive, a.statusCode)
    count(seen.loggedOut, b.statusCode)
    if (a.statusCode === 503) t.match(a.json(), { error: 'service_unavailable' }, 'a 503 says so, and no more')
    if (a.statusCode !== 200 || b.statusCode !== 401 || (await setup.primaryNow()) === `127.0.0.1:${setup.primaryPort}`) return false
    recoveredAfterMs = Date.now() - started
    return true
  }, { intervalMs: 50 })
  t.ok(recoveredAfterMs > 0, `the service answered again after the failover (${recoveredAfterMs} ms)`)
  t.equal(await setup.primaryNow(), `127.0.0.1:${setup.replicaPort}`, 'the replica is the primary now')
  t.same([...seen.alive.keys()].filter((s) => s !== 200 && s !== 503), [], `the live session got only 200 or 503 (${JSON.stringify([...seen.alive])})`)
  t.same([...seen.loggedOut.keys()].filter((s) => s !== 401 && s !== 503), [], `the logged-out token got only 401 or 503 (${JSON.stringify([...seen.loggedOut])})`)
  t.ok((seen.alive.get(503) ?? 0) > 0, 'and there was a window of 503s: the primary really was gone')

  // Everything works on the new primary: a new login, a logout. (The client may reconnect once
  // more as the Sentinels announce the switch: a login meanwhile is a 503, as a client retries.)
  const logIn = () => ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email: alive.email, password: PASSWORD } })
  let attempt!: Awaited<ReturnType<typeof logIn>>
  await eventually(5000, async () => (attempt = await logIn()).statusCode !== 503)
  t.equal(attempt.statusCode, 201, 'a login after the failover')
  const fresh = attempt.json() as { token: string }
  t.equal((await me(ctx.app, `Token token=${fresh.token}`)).statusCode, 200, 'its session works')
  const promoted = new Redis(setup.replicaPort, '127.0.0.1')
  t.teardown(() => promoted.disconnect())
  t.equal(await promoted.exists(sessionKeyOf(ctx, fresh.token)), 1, 'written to the new primary')
  t.equal((await call(ctx.app, 'DELETE', '/sessions/current', fresh.token)).statusCode, 204)
  t.equal((await me(ctx.app, `Token token=${fresh.token}`)).statusCode, 401, 'a logout after the failover')
  t.equal((await me(ctx.app, `Token token=${alive.token}`)).statusCode, 200, 'the session from before the failover lives on')
})

t.test('REDIS_WAIT_REPLICAS=1: a logout is answered once the replica has it; when the replica cannot confirm, it is done, logged and counted', async (t) => {
  const setup = await startSentinelSetup()
  const logs = captureLogs('warn')
  let ctx: TestContext
  try {
    ctx = await buildTestApp(t, { REDIS_SENTINELS: setup.sentinels, REDIS_SENTINEL_NAME: PRIMARY_NAME, REDIS_COMMAND_TIMEOUT_MS: '600', REDIS_WAIT_REPLICAS: '1' }, { logger: logs.logger })
  } finally {
    t.teardown(setup.stop)
  }
  const replica = new Redis(setup.replicaPort, '127.0.0.1')
  t.teardown(() => replica.disconnect())
  const unreplicated = async () => Number(/^gatehouse_revocations_unreplicated_total (\d+)$/m.exec((await ctx.app.inject({ method: 'GET', url: '/metrics' })).body)?.[1])

  const first = await newSession(ctx)
  const second = await login(ctx.app, first.email)
  t.equal((await call(ctx.app, 'DELETE', '/sessions/current', first.token)).statusCode, 204)
  t.equal(await replica.exists(sessionKeyOf(ctx, first.token)), 0, 'when the logout is answered, the replica has it already')
  t.equal(await unreplicated(), 0)

  const paused = setup.pauseReplica()
  const started = Date.now()
  const res = await call(ctx.app, 'DELETE', '/sessions/current', second.token)
  const took = Date.now() - started
  paused.resume()
  t.equal(res.statusCode, 204, 'the logout is still done: the primary has it')
  t.ok(took >= 250, `after waiting for the replica (${took} ms, WAIT 300 ms)`)
  t.equal((await me(ctx.app, `Token token=${second.token}`)).statusCode, 401)
  t.equal(await unreplicated(), 1, 'counted')
  t.ok(logs.lines.some((line) => /not confirmed by enough replicas/.test(line) && /"operation":"revoke"/.test(line)), 'and logged')
})
