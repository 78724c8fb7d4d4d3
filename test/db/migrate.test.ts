import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import { migrate } from '../../src/db/migrate.js'
import { uniqueId } from '../helpers/config.js'
import { sql, TEST_DATABASE_URL } from '../helpers/db.js'
import { eventually } from '../helpers/wait.js'

/** A database of the test's own, dropped afterwards. */
function scratchDatabase (t: Test): string {
  const name = `gatehouse_migrate_${uniqueId()}`
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  t.teardown(() => sql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  return url.toString()
}

const MIGRATIONS = ['20261123120000_create_users', '20261123140000_add_user_role', '20261207080000_account_lifecycle', '20261207200000_user_search']

t.test('creates the database and applies the migrations the way Prisma records them', async (t) => {
  const url = scratchDatabase(t)
  t.same(await migrate(url), MIGRATIONS, 'in name order')

  const rows = await sql<{ migration_name: string; checksum: string; finished_at: Date | null; rolled_back_at: Date | null; applied_steps_count: number; id: string }>(
    'SELECT * FROM "_prisma_migrations" ORDER BY migration_name',
    [],
    url
  )
  t.same(rows.map((r) => r.migration_name), MIGRATIONS)
  for (const row of rows) {
    const migrationSql = readFileSync(new URL(`../../prisma/migrations/${row.migration_name}/migration.sql`, import.meta.url))
    t.match(row, { checksum: createHash('sha256').update(migrationSql).digest('hex'), rolled_back_at: null, applied_steps_count: 1 }, row.migration_name)
    t.ok(row.finished_at instanceof Date)
    t.match(row.id, /^[0-9a-f-]{36}$/)
  }

  const columns = await sql<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY column_name", [], url)
  t.same(columns.map((c) => c.column_name), ['created_at', 'email', 'email_verified_at', 'id', 'password_hash', 'role', 'updated_at'])
  const tokenColumns = await sql<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'account_tokens' ORDER BY column_name", [], url)
  t.same(tokenColumns.map((c) => c.column_name), ['created_at', 'expires_at', 'hash', 'purpose', 'user_id'], 'mailed tokens: a hash, never the token')

  t.same(await migrate(url), [], 'a second run has nothing to do')
})

t.test('a failing migration leaves nothing half-applied and blocks later runs', async (t) => {
  const url = scratchDatabase(t)
  const dir = t.testdir({
    '20260101000000_first': { 'migration.sql': 'CREATE TABLE "a" ("id" INTEGER);' },
    '20260101000001_broken': { 'migration.sql': 'CREATE TABLE "b" ("id" INTEGER);\nSELECT no_such_function();' },
  })
  const migrationsDir = pathToFileURL(`${dir}/`)
  await t.rejects(migrate(url, { migrationsDir }), { name: 'MigrationError', message: /20260101000001_broken failed: .*no_such_function/ })

  const tables = await sql<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_name IN ('a', 'b')", [], url)
  t.same(tables.map((r) => r.table_name), ['a'], 'the broken migration was rolled back whole')
  const [failed] = await sql<{ logs: string | null; finished_at: Date | null }>('SELECT logs, finished_at FROM "_prisma_migrations" WHERE migration_name = \'20260101000001_broken\'', [], url)
  t.equal(failed?.finished_at, null)
  t.match(failed?.logs, /no_such_function/, 'the error is recorded, as Prisma does')

  await t.rejects(migrate(url, { migrationsDir }), { name: 'MigrationError', message: /failed earlier/ })
})

t.test('a migration cut off half-way (its connection killed) leaves no trace, and the next run applies it whole', async (t) => {
  const url = scratchDatabase(t)
  const marker = `gh_cut_${uniqueId()}`
  const dir = t.testdir({ '20260101000000_slow': { 'migration.sql': `CREATE TABLE "a" ("id" INTEGER);\nSELECT pg_sleep(30) AS ${marker};` } })
  const running = migrate(url, { migrationsDir: pathToFileURL(`${dir}/`) })
  running.catch(() => {})
  t.ok(await eventually(10_000, async () => (await sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()', [`%${marker}%`])).length > 0), 'killed mid-migration')
  await t.rejects(running, { name: 'MigrationError', message: /20260101000000_slow failed: terminating connection/ }, 'the first error is the one said')
  t.same(await sql('SELECT migration_name FROM "_prisma_migrations"', [], url), [], 'no row claims it, applied or failed')
  t.same(await sql("SELECT table_name FROM information_schema.tables WHERE table_name = 'a'", [], url), [], 'and nothing of it is applied')
  const fixed = t.testdir({ '20260101000000_slow': { 'migration.sql': 'CREATE TABLE "a" ("id" INTEGER);' } })
  t.same(await migrate(url, { migrationsDir: pathToFileURL(`${fixed}/`) }), ['20260101000000_slow'], 'so the next start is not blocked')
})

t.test('a migration with its own COMMIT is refused, with the reason recorded', async (t) => {
  const url = scratchDatabase(t)
  const dir = t.testdir({ '20260101000000_own_tx': { 'migration.sql': 'BEGIN;\nCREATE TABLE "c" ("id" INTEGER);\nCOMMIT;\nSELECT 1/0;' } })
  await t.rejects(migrate(url, { migrationsDir: pathToFileURL(`${dir}/`) }), { name: 'MigrationError', message: /20260101000000_own_tx failed: division by zero/ })
  const [row] = await sql<{ logs: string | null; finished_at: Date | null }>('SELECT logs, finished_at FROM "_prisma_migrations"', [], url)
  t.match(row, { finished_at: null, logs: /division by zero/ }, 'the real error is in logs')

  const quiet = t.testdir({ '20260101000000_own_tx': { 'migration.sql': 'BEGIN;\nCREATE TABLE "d" ("id" INTEGER);\nCOMMIT;' } })
  const other = scratchDatabase(t)
  await t.rejects(migrate(other, { migrationsDir: pathToFileURL(`${quiet}/`) }), { name: 'MigrationError', message: /must not contain BEGIN, COMMIT or ROLLBACK/ })
  t.match(await sql('SELECT logs, finished_at FROM "_prisma_migrations"', [], other), [{ finished_at: null, logs: /must not contain BEGIN/ }], 'recorded as failed: it blocks later runs until someone looks')
})
