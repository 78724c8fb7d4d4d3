import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { TEST_REDIS_URL, uniqueId } from '../helpers/config.js'
import { sql } from '../helpers/db.js'
import { PASSWORD } from '../helpers/http.js'
import { deleteKeys } from '../helpers/redis.js'
import { eventually, sleep } from '../helpers/wait.js'
import { exited, launch, listening, ownPrefix } from '../server-process.js'

// A deploy in the middle of traffic: the built server, real HTTP, real signals.

/**
 * The built server with SHUTDOWN_DRAIN_SECONDS=`drainSeconds`, a user signed up, and that user's
 * login in flight. Cost 14: a login's compare takes over a second here, long enough to be in
 * flight at the signal that follows.
 */
async function loginInFlight (t: Test, drainSeconds: string) {
  const prefix = `gatehouse-test:${uniqueId()}:`
  const started = launch('node', ['dist/server.js'], { REDIS_KEY_PREFIX: prefix, SHUTDOWN_DRAIN_SECONDS: drainSeconds, BCRYPT_COST: '14' })
  const email = `${uniqueId()}@shutdown.test.gatehouse`
  t.teardown(async () => {
    if (started.proc.exitCode === null) process.kill(started.proc.pid!, 'SIGKILL')
    await sql('DELETE FROM users WHERE email = $1', [email])
    const redis = new Redis(TEST_REDIS_URL)
    await deleteKeys(redis, prefix)
    redis.disconnect()
  })
  const base = await listening(started, 30_000)
  const post = (path: string, body: object) => fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  t.equal((await post('/users', { email, password: PASSWORD })).status, 201)

  const inFlight = post('/sessions', { email, password: PASSWORD })
  // A sleep: the login must have reached the server, which says nothing until it answers.
  await sleep(200)
  return { started, base, inFlight }
}

t.test('SIGTERM: /ready turns 503, requests in flight finish, then a clean exit 0', async (t) => {
  const { started, base, inFlight } = await loginInFlight(t, '2')
  const signalledAt = Date.now()
  process.kill(started.proc.pid!, 'SIGTERM')

  // Well inside the drain period (2 s), for the checks below that it still serves.
  let ready!: Response
  await eventually(1500, async () => (ready = await fetch(`${base}/ready`)).status === 503)
  t.equal(ready.status, 503, '/ready says not to send more')
  t.equal(((await ready.json()) as { error: string }).error, 'not_ready')
  t.equal((await fetch(`${base}/health`)).status, 200, 'still serving while the load balancer catches up')

  const login = await inFlight
  t.equal(login.status, 201, 'the login in flight at SIGTERM completed')
  t.type(((await login.json()) as { token: unknown }).token, 'string')

  t.equal(await exited(started, 20_000), 0, 'exit code 0')
  t.ok(Date.now() - signalledAt >= 2000, 'after the drain period')
  t.match(started.output(), /"signal":"SIGTERM","drainSeconds":2,"msg":"shutting down"/)
  t.match(started.output(), /closed: in-flight requests finished/)
  await t.rejects(fetch(`${base}/health`), 'no longer accepting connections')
})

t.test('SIGINT: no drain period, still a clean exit 0', async (t) => {
  const started = launch('node', ['dist/server.js'], { REDIS_KEY_PREFIX: ownPrefix(t), SHUTDOWN_DRAIN_SECONDS: '30' })
  t.teardown(() => {
    if (started.proc.exitCode === null) process.kill(started.proc.pid!, 'SIGKILL')
  })
  await listening(started, 30_000)
  const signalledAt = Date.now()
  process.kill(started.proc.pid!, 'SIGINT')
  t.equal(await exited(started, 15_000), 0)
  t.ok(Date.now() - signalledAt < 10_000, 'did not wait out SHUTDOWN_DRAIN_SECONDS')
})

t.test('a keep-alive request still in flight when the close begins does not hold the server open', async (t) => {
  // No drain period: the close begins while the login (a cost-14 compare, over a second) is in
  // flight. Its connection is busy then, so it is not among the idle ones a close ends at once;
  // fetch keeps it alive afterwards for as long as the server's Keep-Alive header allows (72 s).
  const { started, inFlight } = await loginInFlight(t, '0')
  process.kill(started.proc.pid!, 'SIGTERM')
  const login = await inFlight
  t.equal(login.status, 201, 'the login in flight completed')
  const answeredAt = Date.now()
  t.equal(await exited(started, 20_000), 0, 'exit code 0, not the 10 s grace running out')
  t.ok(Date.now() - answeredAt < 5000, 'closed soon after its last answer')
  t.match(started.output(), /closed: in-flight requests finished/)
})
