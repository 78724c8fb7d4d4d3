import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, cpSync, symlinkSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { EmbeddedDatabaseError, openEmbeddedDatabase } from '../../src/db/embedded.js'
import { bootedAt } from '../../src/db/folder-lock.js'
import { eventually } from '../helpers/wait.js'
import { sql, TEST_DATABASE_URL } from '../helpers/db.js'

// The embedded database (PGlite on a Unix socket) in-process: its migrations against the real
// PostgreSQL's, and who may open its folder when. test/embedded-server.test.ts runs the server on it.

t.setTimeout(300_000)

const root = mkdtempSync(join(tmpdir(), 'gh-embedded-'))
t.teardown(() => rmSync(root, { recursive: true, force: true }))

const quiet = { role: 'server' as const, maxConnections: 8, log: () => {} }
/** Created once (initdb takes seconds); other tests start from a copy of its data. */
const template = join(root, 'template')
let templateMigrated = false

/** A folder holding a copy of the template's database: opening it skips initdb. */
function folderWithDatabase (name: string): string {
  const dir = join(root, name)
  mkdirSync(dir, { mode: 0o700 })
  cpSync(join(template, 'pgdata'), join(dir, 'pgdata'), { recursive: true })
  return dir
}

/** The pid of a process that has exited. */
const deadPid = () => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString())

async function opened (t: Test, dir: string, options: Partial<typeof quiet> = {}) {
  const db = await openEmbeddedDatabase(dir, { ...quiet, ...options })
  t.teardown(() => db.close())
  return db
}

const columnsOf = (url: string) => sql<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
  `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
   WHERE table_schema = 'public' ORDER BY table_name, column_name`, [], url)
const indexesOf = (url: string) => sql<{ indexname: string; indexdef: string }>("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname", [], url)
const migrationsOf = (url: string) => sql<{ migration_name: string; checksum: string; applied_steps_count: number; logs: string | null; rolled_back_at: Date | null; finished_at: Date | null }>(
  'SELECT migration_name, checksum, applied_steps_count, logs, rolled_back_at, finished_at FROM "_prisma_migrations" ORDER BY migration_name', [], url)

t.test('a new folder is created, migrated like PostgreSQL and kept', async (t) => {
  const messages: string[] = []
  const db = await openEmbeddedDatabase(template, { ...quiet, log: (message) => messages.push(message) })
  templateMigrated = true
  t.match(messages, [/creating the embedded database in .*pgdata/, /applied migration 20261123120000_create_users/, /applied migration 20261123140000_add_user_role/])

  // Prisma's bookkeeping and the schema, row for row as on the real PostgreSQL the suite migrated.
  const embedded = await migrationsOf(db.url)
  const postgres = await migrationsOf(TEST_DATABASE_URL)
  const bookkeeping = (rows: typeof embedded) => rows.map(({ finished_at: finished, ...row }) => ({ ...row, finished: finished instanceof Date }))
  t.same(bookkeeping(embedded), bookkeeping(postgres), '_prisma_migrations matches')
  t.ok(embedded.length >= 2)
  t.same(await columnsOf(db.url), await columnsOf(TEST_DATABASE_URL), 'the same tables, columns, types and defaults')
  t.same(await indexesOf(db.url), await indexesOf(TEST_DATABASE_URL), 'the same indexes')

  const [{ id } = { id: '' }] = await sql<{ id: string }>("INSERT INTO users (id, email, password_hash, updated_at) VALUES (gen_random_uuid(), 'kept@example.com', 'h', now()) RETURNING id", [], db.url)
  t.same(await sql("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'", [], db.url), [{ n: 0 }], 'the migrations left no advisory lock on the one shared session')
  await db.close()
  t.notOk(existsSync(join(template, 'lock.json')), 'closing releases the lock')
  t.notOk(existsSync(join(template, '.s.PGSQL.5432')), 'and removes the socket')

  messages.length = 0
  const again = await openEmbeddedDatabase(template, { ...quiet, log: (message) => messages.push(message) })
  t.same(messages, [], 'reopened: no initdb, nothing to migrate')
  t.same(await sql('SELECT email FROM users WHERE id = $1', [id], again.url), [{ email: 'kept@example.com' }], 'the data is still there')
  await sql('DELETE FROM users', [], again.url)
  await again.close()
})

t.test('one process owns a folder: a second server is refused, a command goes through the owner', async (t) => {
  t.ok(templateMigrated)
  const dir = folderWithDatabase('owned')
  const owner = await opened(t, dir)
  const lock = JSON.parse(readFileSync(join(dir, 'lock.json'), 'utf8'))
  t.match(lock, { pid: process.pid, role: 'server', socketDir: dir })

  await t.rejects(openEmbeddedDatabase(dir, quiet), new EmbeddedDatabaseError(`the embedded database in ${dir} is already open in this process`))
  const link = join(root, 'owned-link')
  symlinkSync(dir, link)
  await t.rejects(openEmbeddedDatabase(link, quiet), { message: /already open in this process/ }, 'also through a symlink')
  const command = await openEmbeddedDatabase(dir, { ...quiet, role: 'cli' })
  t.same(command.servedBy, { pid: process.pid })
  t.equal(command.url, owner.url, "the command uses the owner's socket")
  await sql("INSERT INTO users (id, email, password_hash, updated_at) VALUES (gen_random_uuid(), 'cmd@example.com', 'h', now())", [], command.url)
  await command.close()
  t.same(await sql('SELECT email FROM users', [], owner.url), [{ email: 'cmd@example.com' }], 'what the command wrote, the owner reads')
  t.ok(existsSync(join(dir, 'lock.json')), "a command's close leaves the owner's lock alone")

  // A pid this process cannot see (another pid namespace: a container sharing the folder) whose
  // socket answers is alive, not stale.
  const ownerLock = readFileSync(join(dir, 'lock.json'), 'utf8')
  const gone = deadPid()
  writeFileSync(join(dir, 'lock.json'), JSON.stringify({ ...JSON.parse(ownerLock), pid: gone }))
  await t.rejects(openEmbeddedDatabase(dir, quiet), { name: 'EmbeddedDatabaseError', message: /in use by another Gatehouse server/ })
  writeFileSync(join(dir, 'lock.json'), ownerLock)

  const racing = await Promise.allSettled([openEmbeddedDatabase(folderWithDatabase('race'), quiet), openEmbeddedDatabase(join(root, 'race'), quiet)])
  t.same(racing.map((r) => r.status).sort(), ['fulfilled', 'rejected'], 'two servers opening one folder at once: exactly one gets it')
  for (const r of racing) if (r.status === 'fulfilled') await r.value.close()
})

t.test('a lock left by a process that is gone, or by an earlier boot, is taken over', async (t) => {
  const dir = folderWithDatabase('stale')
  const gone = deadPid()
  writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid: gone, role: 'server', socketDir: dir, bootedAt: bootedAt(), startedAt: 'then' }))
  writeFileSync(join(dir, '.s.PGSQL.5432'), '') // the socket file a killed server leaves
  const db = await openEmbeddedDatabase(dir, quiet)
  t.equal(JSON.parse(readFileSync(join(dir, 'lock.json'), 'utf8')).pid, process.pid, 'the dead pid')
  await db.close()

  // A live pid from before a reboot is someone else's process now, unless its socket answers.
  writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid: process.pid, role: 'server', socketDir: dir, bootedAt: 0, startedAt: 'then' }))
  const rebooted = await openEmbeddedDatabase(dir, quiet)
  t.not(JSON.parse(readFileSync(join(dir, 'lock.json'), 'utf8')).bootedAt, 0, 'the earlier boot')
  await rebooted.close()

  // Our own pid from an earlier life (a container's server is pid 1 at every start): not ours now.
  writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid: process.pid, role: 'server', socketDir: dir, bootedAt: bootedAt(), startedAt: 'then' }))
  await (await openEmbeddedDatabase(dir, quiet)).close()

  // An unreadable lock is waited for briefly (it may be being written), then taken over.
  writeFileSync(join(dir, 'lock.json'), '{"pid": 1, "ro')
  const started = Date.now()
  await (await openEmbeddedDatabase(dir, quiet)).close()
  t.ok(Date.now() - started >= 1500, 'a garbled lock')

  // A first start that died during initdb leaves only a side folder, which is cleared.
  mkdirSync(join(dir, 'pgdata.creating-12345'))
  await (await openEmbeddedDatabase(dir, quiet)).close()
  t.notOk(existsSync(join(dir, 'pgdata.creating-12345')))
})

t.test('a command holding the folder is waited for; a server that is still starting is reported', async (t) => {
  const dir = folderWithDatabase('waiting')
  // A live process of this boot, not ours: our own pid in a lock we did not take counts as a
  // previous process's (pid 1 in a container) unless its socket answers.
  const command = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'])
  t.teardown(() => command.kill())
  const commandLock = { pid: command.pid, role: 'cli', socketDir: dir, bootedAt: bootedAt(), startedAt: 'now' }
  writeFileSync(join(dir, 'lock.json'), JSON.stringify(commandLock))
  setTimeout(() => rmSync(join(dir, 'lock.json')), 600)
  const started = Date.now()
  const db = await opened(t, dir)
  t.ok(Date.now() - started >= 500, 'opened once the command let go')
  await db.close()

  // A live server (another process) that has taken the lock but is not serving yet.
  const starting = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'])
  t.teardown(() => starting.kill())
  writeFileSync(join(dir, 'lock.json'), JSON.stringify({ ...commandLock, pid: starting.pid, role: 'server' }))
  await t.rejects(openEmbeddedDatabase(dir, { ...quiet, role: 'cli' }), { name: 'EmbeddedDatabaseError', message: /owns the embedded database in .* is not serving it yet \(still starting\?\); try again in a moment/ })
  rmSync(join(dir, 'lock.json'))
})

t.test('odd folder names: spaces, URL characters, Unicode, and a path too long for a socket', async (t) => {
  const odd = folderWithDatabase('with space #?&%é')
  const db = await opened(t, odd)
  t.same(await sql('SELECT 1 AS one', [], db.url), [{ one: 1 }])
  await db.close()

  let long = join(root, 'long')
  while (long.length < 120) long = join(long, 'x'.repeat(20))
  mkdirSync(long, { recursive: true })
  cpSync(join(template, 'pgdata'), join(long, 'pgdata'), { recursive: true })
  const far = await opened(t, long)
  const { socketDir } = JSON.parse(readFileSync(join(long, 'lock.json'), 'utf8'))
  t.ok(socketDir.startsWith(tmpdir()), 'the socket goes to a private temporary folder')
  t.same(await sql('SELECT 1 AS one', [], far.url), [{ one: 1 }])
  const viaOwner = await openEmbeddedDatabase(long, { ...quiet, role: 'cli' })
  t.equal(viaOwner.url, far.url, 'which a command finds through the lock')
  await far.close()
  t.notOk(existsSync(socketDir), 'and which is removed on close')
})

t.test("PG* variables meant for another PostgreSQL do not redirect the embedded one's URL", async (t) => {
  const dir = folderWithDatabase('env')
  const db = await opened(t, dir)
  const saved = { ...process.env }
  t.teardown(() => {
    for (const name of ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGSSLMODE']) {
      if (saved[name] === undefined) delete process.env[name]
      else process.env[name] = saved[name]
    }
  })
  Object.assign(process.env, { PGHOST: '127.0.0.1', PGPORT: '1', PGUSER: 'nobody', PGDATABASE: 'nowhere', PGSSLMODE: 'require' })
  t.same(await sql('SELECT current_user AS who, current_database() AS db', [], db.url), [{ who: 'postgres', db: 'postgres' }])
})

t.test('what cannot be used is one clear error, and a command never creates a database', async (t) => {
  const file = join(root, 'a-file')
  writeFileSync(file, '')
  await t.rejects(openEmbeddedDatabase(join(file, 'db'), quiet), { name: 'EmbeddedDatabaseError', message: /cannot create the embedded database's folder .*a-file\/db \(ENOTDIR\); set EMBEDDED_DATABASE_DIR/ })

  const odd = join(root, 'lock-is-a-folder')
  mkdirSync(join(odd, 'lock.json'), { recursive: true })
  const err = await openEmbeddedDatabase(odd, quiet).catch((e: Error) => e)
  t.match(err, { name: 'EmbeddedDatabaseError', message: /^cannot open the embedded database in .*lock-is-a-folder: .*lock-is-a-folder\/lock\.json is not a file, as a lock is: remove it$/ })
  t.notMatch((err as Error).message, /\n/, 'one line')

  const elsewhere = join(root, 'never-started')
  await t.rejects(openEmbeddedDatabase(elsewhere, { ...quiet, role: 'cli' }), { name: 'EmbeddedDatabaseError', message: /there is no embedded database in .*never-started yet: the server creates it on its first start/ })
  t.notOk(existsSync(join(elsewhere, 'pgdata')), 'nothing created')
  t.notOk(existsSync(join(elsewhere, 'lock.json')), 'nor left locked')
})

t.test('the folder is closed to other users, even one that existed before', async (t) => {
  const dir = folderWithDatabase('open-to-all')
  chmodSync(dir, 0o755)
  const db = await opened(t, dir)
  t.equal(statSync(dir).mode & 0o777, 0o700)
  t.equal(statSync(join(dir, '.s.PGSQL.5432')).mode & 0o777, 0o600, 'and so is the socket')
  await db.close()
})

t.test('a lock naming our own pid is not ours while its socket answers (pid 1 in two containers)', async (t) => {
  const dir = folderWithDatabase('same-pid')
  // Another process owns and serves the folder, as the server in another container would.
  const embedded = new URL('../../dist/db/embedded.js', import.meta.url).href
  const owner = spawn(process.execPath, ['--input-type=module', '-e', `
    const { openEmbeddedDatabase } = await import(${JSON.stringify(embedded)})
    await openEmbeddedDatabase(${JSON.stringify(dir)}, { role: 'server', maxConnections: 4, log: () => {} })
    console.log('serving')
    setInterval(() => {}, 1000)`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => owner.kill('SIGKILL'))
  let out = ''
  owner.stdout!.on('data', (chunk) => (out += chunk))
  t.ok(await eventually(60_000, () => out.includes('serving')), 'the other process serves it')
  // Its lock, as a process in another pid namespace, which has our pid there, would have written it.
  const lock = JSON.parse(readFileSync(join(dir, 'lock.json'), 'utf8'))
  writeFileSync(join(dir, 'lock.json'), JSON.stringify({ ...lock, pid: process.pid }))
  await t.rejects(openEmbeddedDatabase(dir, quiet), { name: 'EmbeddedDatabaseError' }, 'refused, not taken over')
  t.equal(JSON.parse(readFileSync(join(dir, 'lock.json'), 'utf8')).startedAt, lock.startedAt, 'the lock is untouched')
})
