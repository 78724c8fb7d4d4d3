import { readdirSync, readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { createPasswordHasher } from '../../src/users/password-hasher.js'
import { testConfig } from '../helpers/config.js'
import { buildTestApp } from '../helpers/app.js'
import { sql } from '../helpers/db.js'
import { PASSWORD, signUp } from '../helpers/http.js'
import { indexed, scanKeys } from '../helpers/redis.js'
import { eventually, sleep } from '../helpers/wait.js'

// bcrypt runs in worker threads with a bounded queue and a deadline (src/users/bcrypt-pool.ts).

const costOf = async (email: string) => {
  const [row] = await sql<{ password_hash: string }>('SELECT password_hash FROM users WHERE email = $1', [email])
  return Number(row!.password_hash.split('$')[2])
}

t.test('logins at cost 12 do not hold up the event loop', async (t) => {
  const ctx = await buildTestApp(t, { BCRYPT_COST: '12' })
  const email = ctx.email()
  await signUp(ctx.app, email)
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  const started = performance.now()
  const answers = await Promise.all(Array.from({ length: 4 }, () => ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })))
  const elapsed = performance.now() - started
  delay.disable()
  t.same(answers.map((res) => res.statusCode), [201, 201, 201, 201])
  // On the event loop, four compares would stall it for their whole length (bcryptjs yields at
  // most every 100 ms); in the pool, the loop's longest stall is a small fraction of that.
  const longestStallMs = delay.max / 1e6
  t.ok(longestStallMs < elapsed / 4, `longest event-loop stall ${longestStallMs.toFixed(1)} ms during ${elapsed.toFixed(0)} ms of logins`)
})

/** This process's threads and their nice values (field 19 of /proc/<pid>/task/<tid>/stat). */
function niceByThread (): Map<number, number> {
  const threads = new Map<number, number>()
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
    threads.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]))
  }
  return threads
}

t.test('bcrypt threads run at BCRYPT_NICE, and the event loop keeps its own priority', { skip: process.platform !== 'linux' && 'per-thread nice values are Linux only' }, async (t) => {
  const before = niceByThread()
  const passwords = await createPasswordHasher({ cost: 4, threads: 2, maxQueue: 4, deadlineMs: 5000, nice: 7 })
  t.teardown(() => passwords.close())
  await Promise.all([passwords.hash('one password'), passwords.hash('another one')])
  const added = [...niceByThread()].filter(([tid]) => !before.has(tid))
  t.equal(added.filter(([, nice]) => nice === 7).length, 2, 'both new bcrypt threads at nice 7')
  t.equal(niceByThread().get(process.pid), before.get(process.pid), 'the main thread (the event loop) unchanged')
})

t.test('threads exist only while there is hashing to do', async (t) => {
  const passwords = await createPasswordHasher({ cost: 4, threads: 2, maxQueue: 4, deadlineMs: 5000, nice: 10, idleMs: 200 })
  t.teardown(() => passwords.close())
  t.ok(await eventually(5000, () => passwords.stats().threads === 0), 'the start-up hash\'s thread is let go once idle')
  await Promise.all([passwords.hash('one password'), passwords.hash('another one')])
  t.ok(passwords.stats().threads >= 1, 'started again for work')
  t.ok(await eventually(5000, () => passwords.stats().threads === 0), 'and let go again')
  t.ok(await passwords.verify('one password', await passwords.hash('one password')), 'and started once more on demand')
})

// bcrypt of PASSWORD at cost 16: one compare holds a core for seconds (about 4.6 s on the
// development machine), far past the deadlines below.
const SLOW_HASH = '$2b$16$hwzgk4moE6l5AT52Sm/Ha.txDTUuFWEvwr2r2HOx7wK/D6LxP4U9C'

t.test('past BCRYPT_DEADLINE_MS a check is abandoned: queued or running, its caller gets 503 and its thread is freed', async (t) => {
  const passwords = await createPasswordHasher({ cost: 4, threads: 1, maxQueue: 4, deadlineMs: 1000, nice: 0 })
  t.teardown(() => passwords.close())
  const running = passwords.verify(PASSWORD, SLOW_HASH)
  const queued = passwords.verify(PASSWORD, SLOW_HASH)
  await t.rejects(running, { code: 'overloaded' }, 'the running check')
  await t.rejects(queued, { code: 'overloaded' }, 'the one waiting behind it')
  t.same(passwords.stats().refused, { atEntry: 0, deadline: 2 })
  // Had the first compare gone on, this one would wait seconds for the only thread and miss its own deadline.
  const quick = await passwords.hash('another password')
  t.ok(await passwords.verify('another password', quick), 'the thread is free for the next check at once')
})

t.test('after a thread is stopped at the deadline, the calls waiting behind it are served, first come first served', async (t) => {
  const passwords = await createPasswordHasher({ cost: 4, threads: 1, maxQueue: 8, deadlineMs: 1500, nice: 0 })
  t.teardown(() => passwords.close())
  const quick = await passwords.hash('a password')
  const slow = passwords.verify(PASSWORD, SLOW_HASH)
  // Half-way through the slow one's deadline, so that theirs run on after it is stopped.
  await sleep(750)
  const order: number[] = []
  const behind = [0, 1, 2, 3].map((i) => passwords.verify('a password', quick).then((ok) => {
    order.push(i)
    return ok
  }))
  await t.rejects(slow, { code: 'overloaded' }, 'the slow one is stopped at its deadline')
  t.same(await Promise.all(behind), [true, true, true, true], 'the ones waiting behind it get a new thread and are answered')
  t.same(order, [0, 1, 2, 3], 'in the order they came')
})

t.test('a check that would not be served before the deadline is refused at once', async (t) => {
  const passwords = await createPasswordHasher({ cost: 4, threads: 1, maxQueue: 4, deadlineMs: 1000, nice: 0 })
  t.teardown(() => passwords.close())
  const first = passwords.verify(PASSWORD, SLOW_HASH)
  await t.rejects(first, { code: 'overloaded' })
  // The pool now knows a check takes at least the deadline: one more behind a running one cannot be served in time.
  const running = passwords.verify(PASSWORD, SLOW_HASH)
  await t.rejects(passwords.verify(PASSWORD, SLOW_HASH), { code: 'overloaded' }, 'refused without waiting')
  t.equal(passwords.stats().refused.atEntry, 1, 'at entry')
  await t.rejects(running, { code: 'overloaded' })
  t.equal(passwords.stats().refused.deadline, 2, 'the running ones at the deadline')
  // With the thread free again a check is always let in, and the estimate learns from it.
  const quick = await passwords.hash('another password')
  t.ok(await passwords.verify('another password', quick))
})

t.test('a login past the deadline is answered 503 with Retry-After, counts against no limit, and the next one is served', async (t) => {
  const ctx = await buildTestApp(t, { BCRYPT_DEADLINE_MS: '1000', LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: '1' })
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  const [row] = await sql<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [user.id])
  await sql('UPDATE users SET password_hash = $1 WHERE id = $2', [SLOW_HASH, user.id])
  const login = () => ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })
  // One after the other: each consumes the one failure allowed while its check runs.
  for (const res of [await login(), await login()]) {
    t.equal(res.statusCode, 503)
    t.equal(res.headers['retry-after'], '5')
    t.same(res.json(), { error: 'service_unavailable', message: 'Too many sign-ins at once; try again shortly' })
  }
  t.same(await indexed(ctx, user.id), [], 'no session')
  const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /gatehouse_password_checks_refused_total\{reason="deadline"\} 2/)
  await sql('UPDATE users SET password_hash = $1 WHERE id = $2', [row!.password_hash, user.id])
  // A limit of one failure would have answered 429 had either 503 counted as one.
  t.equal((await login()).statusCode, 201, 'served once the password can be checked in time')
})

t.test('a full queue is refused at once with 503 and Retry-After, not answered late', async (t) => {
  const ctx = await buildTestApp(t, { BCRYPT_COST: '12', BCRYPT_THREADS: '1', BCRYPT_MAX_QUEUE: '1' })
  const email = ctx.email()
  await signUp(ctx.app, email)
  const answers = await Promise.all(Array.from({ length: 6 }, () => ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })))
  const served = answers.filter((res) => res.statusCode === 201)
  const refused = answers.filter((res) => res.statusCode === 503)
  t.equal(served.length + refused.length, 6, 'every answer is 201 or 503')
  t.ok(served.length >= 1 && served.length <= 2, `one running and one waiting are served (${served.length})`)
  for (const res of refused) {
    t.equal(res.headers['retry-after'], '5')
    t.same(res.json(), { error: 'service_unavailable', message: 'Too many sign-ins at once; try again shortly' })
  }
  const signUps = await Promise.all(Array.from({ length: 4 }, () => ctx.app.inject({ method: 'POST', url: '/users', payload: { email: ctx.email(), password: PASSWORD } })))
  t.ok(signUps.some((res) => res.statusCode === 503), 'sign-ups share the queue')
  t.ok(signUps.every((res) => res.statusCode === 201 || res.statusCode === 503))
  const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /gatehouse_password_checks_waiting \d+/)
  // Refusals counted against no limit: the queue was full, no password was checked.
  t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 201, 'served again once the queue drains')
})

t.test('a hash below BCRYPT_COST is upgraded at the next successful login, never downgraded', async (t) => {
  const old = await buildTestApp(t, { BCRYPT_COST: '4' })
  const email = old.email()
  await signUp(old.app, email)
  t.equal(await costOf(email), 4)

  const current = await buildTestApp(t, { BCRYPT_COST: '5', REDIS_KEY_PREFIX: old.config.redisKeyPrefix })
  t.equal((await current.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: 'wrong password' } })).statusCode, 401)
  t.equal(await costOf(email), 4, 'a failed login changes nothing')
  t.equal((await current.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 201)
  t.equal(await costOf(email), 5, 'upgraded to the current cost')
  t.equal((await old.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 201, 'the new hash works')
  t.equal(await costOf(email), 5, 'a lower BCRYPT_COST does not downgrade it')
})

t.test('the upgrade never overwrites a hash that changed meanwhile', async (t) => {
  const ctx = await buildTestApp(t)
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  const services = ctx.app
  const [row] = await sql<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [user.id])
  t.equal(await services.users.replacePasswordHash(user.id, '$2b$04$not.the.stored.hash', 'replacement'), false, 'a stale expected hash changes nothing')
  t.same(await sql('SELECT password_hash FROM users WHERE id = $1', [user.id]), [row])
  t.equal(await services.users.replacePasswordHash(user.id, row!.password_hash, row!.password_hash), true, 'the current one is replaced')
})

t.test('a login the pool would refuse is refused before it reads anything', async (t) => {
  const ctx = await buildTestApp(t, { BCRYPT_THREADS: '1', BCRYPT_DEADLINE_MS: '1000' })
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  await sql('UPDATE users SET password_hash = $1 WHERE id = $2', [SLOW_HASH, user.id])
  const login = (address: string) => ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email: address, password: PASSWORD } })
  // The first check is stopped at the deadline: the pool learns that a check takes at least 1 s.
  t.equal((await login(email)).statusCode, 503)
  const slow = login(email)
  t.ok(await eventually(5000, () => ctx.app.passwords.stats().running === 1, { intervalMs: 10 }), 'a second check runs')
  // One more could only start after it: past the deadline. Refused at once, an unknown email alike,
  // and before the brute-force limits are even consulted: they would count it (then refund it) in
  // keys of their own for this new email.
  const throttleKeys = async () => (await scanKeys(ctx.redis, ctx.config.redisKeyPrefix)).filter((key) => key.includes('throttle')).sort()
  const before = await throttleKeys()
  const refused = await login(ctx.email())
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '5')
  t.equal(ctx.app.passwords.stats().refused.atEntry, 1, 'at entry')
  t.same(await throttleKeys(), before, 'no limit was consulted: nothing was read')
  t.equal((await slow).statusCode, 503)
})

t.test('a deadline shorter than one hash on this machine stops the start with one clear error', async (t) => {
  // Cost 14 takes about a second here: every login would be stopped at a 500 ms deadline.
  await t.rejects(buildApp(testConfig({ BCRYPT_COST: '14', BCRYPT_DEADLINE_MS: '500' }), { logger: false }), {
    name: 'ConfigError',
    message: /^Invalid configuration: BCRYPT_DEADLINE_MS \(500 ms\) is shorter than one bcrypt hash at BCRYPT_COST 14/,
  })
})
