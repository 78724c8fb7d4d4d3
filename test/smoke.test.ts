import { Redis } from 'ioredis'
import { once } from 'node:events'
import { type AddressInfo, createServer } from 'node:net'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { codeOf, readMailFile } from './helpers/smtp.js'
import { eventually } from './helpers/wait.js'
import { TEST_REDIS_URL, uniqueId } from './helpers/config.js'
import { sql } from './helpers/db.js'
import { deleteKeys } from './helpers/redis.js'
import { exited, launch, listening, ownPrefix, request } from './server-process.js'

// The real server, started as the README says, over real HTTP.

t.test('npm start serves the documented flow over HTTP', async (t) => {
  const prefix = `gatehouse-test:${uniqueId()}:`
  // Mail as in development with no SMTP (files), in a folder of the test's own rather than .gatehouse/mail.
  const mailDir = await mkdtemp(join(tmpdir(), 'gatehouse-smoke-mail-'))
  t.teardown(() => rm(mailDir, { recursive: true, force: true }))
  const started = launch('npm', ['start'], { REDIS_KEY_PREFIX: prefix, MAIL_TRANSPORT: 'auto', MAIL_DIR: mailDir })
  t.teardown(() => {
    if (started.proc.exitCode === null) process.kill(-started.proc.pid!, 'SIGKILL')
  })
  const base = await listening(started, 90_000)
  const call = (method: string, path: string, init?: { body?: object; token?: string }) => request(base, method, path, init)

  t.same((await call('GET', '/health')).body, { status: 'ok' })
  t.equal((await call('GET', '/ready')).status, 200)
  const email = `${uniqueId()}@smoke.test.gatehouse`
  const password = 'correct horse battery'
  const signUp = await call('POST', '/users', { body: { email, password } })
  t.equal(signUp.status, 201)
  const login = await call('POST', '/sessions', { body: { email, password } })
  t.equal(login.status, 201)
  const token = login.body.token as string
  const me = await call('GET', '/me', { token })
  t.equal(me.status, 200)
  t.same(me.body, signUp.body)
  t.equal((await call('DELETE', '/sessions/current', { token })).status, 204)
  const after = await call('GET', '/me', { token })
  t.equal(after.status, 401)
  t.equal(after.headers.get('www-authenticate'), 'Token realm="Application"')

  // The README's password reset, with the code read from the mail file.
  t.equal((await call('POST', '/password-resets', { body: { email } })).status, 202)
  t.ok(await eventually(10_000, async () => (await readdir(mailDir)).some((name) => name.includes('password-reset'))), 'the reset mail is written to MAIL_DIR')
  const code = codeOf(await readMailFile(mailDir, email))
  t.equal((await call('POST', '/password-resets/confirm', { body: { token: code, password: 'a new passphrase' } })).status, 204)
  t.equal((await call('POST', '/sessions', { body: { email, password: 'a new passphrase' } })).status, 201, 'the new password logs in')
  t.match(started.output(), /account mail is written to files/, 'the log says where mail goes')

  t.notOk(started.output().includes(token), 'the token never appears in the logs')
  t.notOk(started.output().includes(password), 'nor the password')
  t.notOk(started.output().includes(code), 'nor the reset code')

  // To npm alone, as an orchestrator running `npm start` would: it must reach the server itself.
  process.kill(started.proc.pid!, 'SIGTERM')
  t.equal(await exited(started, 15_000), 0, 'npm start exits 0 on SIGTERM')
  t.match(started.output(), /shutting down/, 'stops gracefully on SIGTERM')
  t.match(started.output(), /closed: in-flight requests finished/)
  await t.rejects(fetch(`${base}/health`), 'and the server is gone, not left running without npm')

  // Clean up the user and the Redis keys (the event stream outlives the session) the server left.
  await sql('DELETE FROM users WHERE email = $1', [email])
  const redis = new Redis(TEST_REDIS_URL)
  await deleteKeys(redis, prefix)
  redis.disconnect()
})

t.test('the built server exits 0 on SIGTERM', async (t) => {
  const started = launch('node', ['dist/server.js'], { REDIS_KEY_PREFIX: ownPrefix(t) })
  await listening(started, 30_000)
  process.kill(started.proc.pid!, 'SIGTERM')
  t.equal(await exited(started, 15_000), 0)
})

t.test('start-up problems are one clear line and a non-zero exit, never a hang', async (t) => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['Redis unreachable', { REDIS_URL: 'redis://127.0.0.1:1' }, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1.*docker compose up -d redis/],
    ['Redis Cluster unreachable', { REDIS_URL: '', REDIS_CLUSTER_NODES: '127.0.0.1:1' }, /cannot reach Redis at cluster nodes 127\.0\.0\.1:1 .*or set REDIS_CLUSTER_NODES/],
    ['Sentinels unreachable', { REDIS_URL: '', REDIS_SENTINELS: '127.0.0.1:1', REDIS_SENTINEL_NAME: 'gh' }, /cannot reach Redis at primary "gh" of sentinels 127\.0\.0\.1:1 .*or set REDIS_SENTINELS/],
    ['Postgres unreachable', { DATABASE_URL: 'postgresql://postgres:secret@127.0.0.1:1/gatehouse' }, /cannot reach PostgreSQL at postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/gatehouse.*docker compose up -d postgres/],
    ['bad setting', { SESSION_TTL_SECONDS: 'soon' }, /Invalid configuration: SESSION_TTL_SECONDS must be a whole number/],
    ['production without a signing key', { NODE_ENV: 'production', JWT_PRIVATE_KEY: '' }, /Invalid configuration: JWT_PRIVATE_KEY is required when NODE_ENV=production: set it, or JWT_PRIVATE_KEY_FILE, to an Ed25519 key: openssl genpkey -algorithm ed25519\n/],
    ['production on HS256 without a secret', { NODE_ENV: 'production', JWT_ALGORITHM: 'HS256', JWT_PRIVATE_KEY: '' }, /Invalid configuration: JWT_SECRET is required with JWT_ALGORITHM=HS256 and NODE_ENV=production/],
  ]
  for (const [name, env, message] of cases) {
    const started = launch('node', ['dist/server.js'], env)
    t.equal(await exited(started, 20_000), 1, `${name}: exit 1`)
    t.match(started.output(), message, name)
    t.notMatch(started.output(), /secret@/, `${name}: no password in the message`)
  }
})

t.test('a busy port is one line and exit 1, not a stack trace', async (t) => {
  const occupier = createServer()
  occupier.listen(0, '127.0.0.1')
  await once(occupier, 'listening')
  t.teardown(() => occupier.close())
  const port = (occupier.address() as AddressInfo).port
  const started = launch('node', ['dist/server.js'], { PORT: String(port), REDIS_KEY_PREFIX: ownPrefix(t) })
  t.equal(await exited(started, 30_000), 1, 'exit 1')
  const stderr = started.output().split('\n').filter((line) => line !== '' && !line.startsWith('{'))
  t.same(stderr, [`gatehouse: cannot listen on 127.0.0.1:${port}: the port is in use by another process; stop it, or set PORT to a free port`], 'the one line, and no other (no stack)')
})
