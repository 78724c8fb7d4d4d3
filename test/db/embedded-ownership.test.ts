import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { execFile, execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { openEmbeddedDatabase } from '../../src/db/embedded.js'
import { bootedAt } from '../../src/db/folder-lock.js'
import { gatehouse } from '../cli/run-cli.js'
import { TEST_JWT_PRIVATE_KEY, TEST_REDIS_URL } from '../helpers/config.js'
import { exited, launch, ownPrefix } from '../server-process.js'

// Run as root against another user's embedded database folder, the server and a `gatehouse`
// command refuse it, its lock.json and its socket, as PostgreSQL refuses a data directory it does
// not own, instead of trusting that user's lock and sending commands down their socket.

const NOBODY = 65534
const isRoot = process.geteuid?.() === 0
const skip = isRoot ? false : 'needs root, to give files to another user'

const cliEnv = (dir: string) => ({ EMBEDDED_DATABASE_DIR: dir, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: 'gatehouse-test:ownership:', JWT_PRIVATE_KEY: TEST_JWT_PRIVATE_KEY, PGPORT: '1' })
const setRole = (t: Test, dir: string) => gatehouse(['users', 'set-role', 'someone@example.com', 'admin'], cliEnv(dir), t.testdirName)

/** The server on the folder: resolves with its exit code and its output that is not a JSON log line. */
async function serverOn (t: Test, dir: string) {
  const started = launch('node', ['dist/server.js'], { DATABASE_URL: '', EMBEDDED_DATABASE_DIR: dir, REDIS_KEY_PREFIX: ownPrefix(t), PGPORT: '1' })
  t.teardown(() => { if (started.proc.exitCode === null && started.proc.signalCode === null) process.kill(-started.proc.pid!, 'SIGKILL') })
  const code = await exited(started, 60_000)
  return { code, lines: started.output().split('\n').filter((line) => line !== '' && !line.startsWith('{')) }
}

/** A Unix socket that answers, in a new folder, both owned by `uid`: what a server of theirs serves. */
async function socketOf (t: Test, uid: number): Promise<string> {
  // Short: a socket's path holds about 100 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'gh-sock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const server = createServer((socket) => socket.destroy())
  server.listen(join(dir, '.s.PGSQL.5432'))
  await once(server, 'listening')
  t.teardown(() => server.close())
  chownSync(join(dir, '.s.PGSQL.5432'), uid, uid)
  chownSync(dir, uid, uid)
  return dir
}

/** A lock.json naming a live server (this test's process) whose socket is in `socketDir`. */
function lockIn (dir: string, socketDir: string, uid: number): void {
  const lock = join(dir, 'lock.json')
  writeFileSync(lock, JSON.stringify({ pid: process.pid, role: 'server', socketDir, bootedAt: bootedAt(), startedAt: new Date().toISOString() }), { mode: 0o600 })
  chownSync(lock, uid, uid)
}

t.test("another user's folder: the server and a command refuse it, and leave it as it was", { skip }, async (t) => {
  const dir = join(t.testdir({}), 'theirs')
  mkdirSync(dir, { mode: 0o755 })
  chownSync(dir, NOBODY, NOBODY)
  const message = new RegExp(`^gatehouse: the embedded database's folder ${dir} belongs to another user \\(uid ${NOBODY}\\), not to the user running Gatehouse \\(uid 0\\)`)

  const server = await serverOn(t, dir)
  t.equal(server.code, 1, 'the server exits 1')
  t.match(server.lines, [message], 'with one line')
  t.equal(server.lines.length, 1)

  const cli = await setRole(t, dir)
  t.not(cli.code, 0, 'the command exits non-zero')
  t.match(cli.stderr.trim(), message, 'with the same line')
  t.notOk(existsSync(join(dir, 'lock.json')), 'no lock was written in it')
  t.equal(statSync(dir).mode & 0o777, 0o755, 'nor its mode changed')
})

t.test("another user's lock.json in our folder is not trusted: not their socket, not a takeover", { skip }, async (t) => {
  const dir = join(t.testdir({}), 'ours')
  mkdirSync(dir, { mode: 0o700 })
  const theirSockets = await socketOf(t, NOBODY)
  lockIn(dir, theirSockets, NOBODY)
  const message = new RegExp(`^gatehouse: the embedded database's lock ${dir}/lock.json belongs to another user \\(uid ${NOBODY}\\)`)

  const cli = await setRole(t, dir)
  t.not(cli.code, 0, 'the command exits non-zero')
  t.match(cli.stderr.trim(), message, 'naming the lock')
  const server = await serverOn(t, dir)
  t.equal(server.code, 1)
  t.match(server.lines, [message], 'the server too, in one line')
  t.equal(statSync(join(dir, 'lock.json')).uid, NOBODY, 'the lock is left alone')
})

t.test("another user's FIFO as lock.json is refused, not waited on forever", { skip }, async (t) => {
  const dir = join(t.testdir({}), 'ours')
  mkdirSync(dir, { mode: 0o700 })
  // Left while the folder was open to others: opening a FIFO to read blocks until someone writes.
  execFileSync('mkfifo', [join(dir, 'lock.json')])
  chownSync(join(dir, 'lock.json'), NOBODY, NOBODY)
  // Bounded here, and SIGKILL: a process blocked in open(2) never runs its SIGTERM handler.
  const cli = await new Promise<{ killed: boolean; stderr: string }>((resolve) => {
    execFile(process.execPath, ['dist/cli/index.js', 'users', 'set-role', 'someone@example.com', 'admin'], { env: { PATH: process.env.PATH ?? '', ...cliEnv(dir) }, timeout: 20_000, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => resolve({ killed: err?.killed === true, stderr }))
  })
  t.notOk(cli.killed, 'the command ends by itself')
  t.match(cli.stderr.trim(), new RegExp(`the embedded database's lock ${dir}/lock.json belongs to another user \\(uid ${NOBODY}\\)`))
})

t.test("our lock naming another user's socket (or socket folder) is refused", { skip }, async (t) => {
  const dir = join(t.testdir({}), 'ours')
  mkdirSync(dir, { mode: 0o700 })
  const theirSockets = await socketOf(t, NOBODY)
  lockIn(dir, theirSockets, 0)
  const folder = await setRole(t, dir)
  t.not(folder.code, 0)
  t.match(folder.stderr.trim(), new RegExp(`the embedded database's socket folder ${theirSockets} belongs to another user \\(uid ${NOBODY}\\)`))

  // The folder ours, the socket in it theirs.
  chownSync(theirSockets, 0, 0)
  const socket = await setRole(t, dir)
  t.not(socket.code, 0)
  t.match(socket.stderr.trim(), new RegExp(`the embedded database's socket ${theirSockets}/.s.PGSQL.5432 belongs to another user \\(uid ${NOBODY}\\)`))

  // Ours throughout: the check lets it through, to the socket (which here answers no PostgreSQL).
  chownSync(join(theirSockets, '.s.PGSQL.5432'), 0, 0)
  const ours = await setRole(t, dir)
  t.notMatch(ours.stderr, /belongs to another user/, 'our own socket is used')
})

t.test('our own folder passes, and is closed to others if it was open', async (t) => {
  const dir = join(t.testdir({}), 'open')
  mkdirSync(dir)
  chmodSync(dir, 0o777)
  // A command never creates the database, so this stops there: past the ownership checks.
  await t.rejects(openEmbeddedDatabase(dir, { role: 'cli', maxConnections: 2, log: () => {} }), /there is no embedded database in .* yet/)
  t.equal(statSync(dir).mode & 0o777, 0o700)
})

// EMBEDDED_DATABASE_DIR=/tmp or / (or $HOME, or the project) by mistake, as root: the folder is ours,
// so the ownership check passes, and making it 0700 would lock every other user out of it.
t.test('a folder that holds other files and no embedded database is refused, its mode untouched', async (t) => {
  const shared = join(t.testdir({ 'someone-elses.txt': 'not a database\n' }))
  chmodSync(shared, 0o1777) // like /tmp
  for (const role of ['cli', 'server'] as const) {
    const opening = openEmbeddedDatabase(shared, { role, maxConnections: 2, log: () => {} })
    opening.then((db) => db.close(), () => {})
    await t.rejects(opening, {
      name: 'EmbeddedDatabaseError',
      message: new RegExp(`^the embedded database's folder ${shared} holds other files \\(someone-elses\\.txt\\) and no embedded database: set EMBEDDED_DATABASE_DIR to a folder of its own`),
    }, `${role}: refused`)
  }
  t.equal(statSync(shared).mode & 0o7777, 0o1777, 'its mode is left as it was')
  t.notOk(existsSync(join(shared, 'lock.json')), 'no lock was written in it')
  t.notOk(existsSync(join(shared, 'pgdata')), 'nor a database')

  // What an interrupted first start leaves (a half-made data directory) is the database's own.
  const interrupted = join(t.testdir({ 'pgdata.creating-123': {} }))
  await t.rejects(openEmbeddedDatabase(interrupted, { role: 'cli', maxConnections: 2, log: () => {} }), /there is no embedded database in .* yet/)
})
