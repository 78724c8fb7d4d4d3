import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { gatehouse } from './cli/run-cli.js'
import { TEST_JWT_PRIVATE_KEY, TEST_REDIS_URL, uniqueId } from './helpers/config.js'
import { deleteKeys } from './helpers/redis.js'
import { exited, launch, listening, request, type Started } from './server-process.js'

// A newcomer's machine: Node and Redis, no PostgreSQL. The built server with no DATABASE_URL and
// every PG* variable pointing at a port where nothing listens, over real HTTP. (test/smoke.test.ts
// runs `npm start` itself, against PostgreSQL.)

t.setTimeout(300_000)

t.test('no DATABASE_URL, no PostgreSQL: the README flow on the embedded database, across restarts and a crash', async (t) => {
  const dir = join(t.testdir({}), 'db')
  const prefix = `gatehouse-test:${uniqueId()}:`
  const env = { DATABASE_URL: '', EMBEDDED_DATABASE_DIR: dir, REDIS_KEY_PREFIX: prefix, PGHOST: '127.0.0.1', PGPORT: '1' }
  const running: Started[] = []
  const start = () => {
    const started = launch('node', ['dist/server.js'], env)
    running.push(started)
    return started
  }
  t.teardown(async () => {
    for (const { proc } of running) if (proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid!, 'SIGKILL')
    const redis = new Redis(TEST_REDIS_URL)
    await deleteKeys(redis, prefix)
    redis.disconnect()
  })
  const cli = (...args: string[]) => gatehouse(args, { EMBEDDED_DATABASE_DIR: dir, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, JWT_PRIVATE_KEY: TEST_JWT_PRIVATE_KEY, PGPORT: '1' }, t.testdirName)

  const first = start()
  let base = await listening(first, 120_000)
  t.match(first.output(), /creating the embedded database in .*\/db\/pgdata/, 'the first start creates it')
  t.match(first.output(), new RegExp(`users in the embedded PostgreSQL \\(PGlite\\) in ${dir}`), 'and the start-up line says which database, and where')
  t.notMatch(first.output(), /cannot reach PostgreSQL/)

  const call = (method: string, path: string, init?: { body?: object; token?: string }) => request(base, method, path, init)
  const email = `${uniqueId()}@embedded.test.gatehouse`
  const password = 'correct horse battery'
  const logIn = async () => {
    const res = await call('POST', '/sessions', { body: { email, password } })
    t.equal(res.status, 201, 'log in')
    return res.body.token as string
  }

  t.equal((await call('GET', '/ready')).status, 200, '/ready: the database answers')
  const signUp = await call('POST', '/users', { body: { email, password } })
  t.equal(signUp.status, 201, 'sign up')
  t.equal((await call('POST', '/users', { body: { email: email.toUpperCase(), password } })).status, 409, 'the unique email holds on the embedded database too')
  let token = await logIn()
  t.same((await call('GET', '/me', { token })).body, signUp.body, '/me')
  t.equal((await call('DELETE', '/sessions/current', { token })).status, 204, 'log out')
  t.equal((await call('GET', '/me', { token })).status, 401, 'and the session is gone')

  // A command while the server runs goes through the server's socket.
  const promote = await cli('users', 'set-role', email, 'admin')
  t.equal(promote.code, 0, promote.stderr)
  t.match(promote.stdout, /role user -> admin/)
  token = await logIn()
  t.equal((await call('GET', '/me', { token })).body.user.role, 'admin', 'what the command wrote, the server reads')

  // A second server on the same folder: one line, exit 1.
  const second = start()
  t.equal(await exited(second, 60_000), 1, 'a second server on the same folder exits 1')
  t.match(second.output(), new RegExp(`^gatehouse: the embedded database in ${dir} is in use by another Gatehouse server \\(pid ${first.proc.pid}\\)`, 'm'))
  t.equal(second.output().trim().split('\n').filter((line) => !line.startsWith('{')).length, 1, 'one line, no stack trace')
  t.equal((await call('GET', '/ready')).status, 200, 'and the first one is unharmed')

  process.kill(first.proc.pid!, 'SIGTERM')
  t.equal(await exited(first, 30_000), 0, 'SIGTERM: exit 0')
  t.notOk(existsSync(join(dir, 'lock.json')), 'the lock is released')

  // No server: the command opens the folder itself.
  const demote = await cli('users', 'set-role', email, 'user')
  t.equal(demote.code, 0, demote.stderr)
  t.match(demote.stdout, /role admin -> user/)

  const restarted = start()
  base = await listening(restarted, 60_000)
  t.notMatch(restarted.output(), /creating the embedded database/, 'a restart keeps the database')
  token = await logIn()
  t.equal((await call('GET', '/me', { token })).body.user.role, 'user', 'the same user, with the same password, and the role the command set')

  // A crash leaves a stale lock and socket: the next start takes them over, and nothing is lost.
  const later = `${uniqueId()}@embedded.test.gatehouse`
  t.equal((await call('POST', '/users', { body: { email: later, password } })).status, 201)
  process.kill(-restarted.proc.pid!, 'SIGKILL')
  await exited(restarted, 10_000)
  t.ok(existsSync(join(dir, 'lock.json')), 'SIGKILL left the lock behind')
  const afterCrash = start()
  base = await listening(afterCrash, 60_000)
  t.equal((await call('POST', '/sessions', { body: { email: later, password } })).status, 201, 'the user signed up just before the crash logs in')
  process.kill(afterCrash.proc.pid!, 'SIGTERM')
  t.equal(await exited(afterCrash, 30_000), 0)
})

t.test('production without DATABASE_URL stops with one line', async (t) => {
  const started = launch('node', ['dist/server.js'], { NODE_ENV: 'production', DATABASE_URL: '', EMBEDDED_DATABASE_DIR: join(t.testdir({}), 'db') })
  t.equal(await exited(started, 20_000), 1)
  t.equal(started.output().trim(), "gatehouse: Invalid configuration: DATABASE_URL is required with NODE_ENV=production (the embedded database is one process's folder, not a store instances can share)")
  t.notOk(existsSync(join(t.testdirName, 'db')), 'and creates nothing')
})
