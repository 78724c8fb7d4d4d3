import { createHash, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import pg from 'pg'
import { StartupError } from '../shared/startup-error.js'

/**
 * Applies prisma/migrations in Prisma's own format and bookkeeping (`_prisma_migrations`), so a
 * database migrated here is one that `prisma migrate deploy/status` accepts, and vice versa.
 * Prisma's CLI cannot run here (its schema engine is a native binary downloaded on first use);
 * this is the ~50 lines of `migrate deploy` Gatehouse needs, on plain `pg`.
 */
const MIGRATIONS_DIR = new URL('../../prisma/migrations/', import.meta.url)
/** The advisory lock key Prisma Migrate takes, so this and the real CLI never run at once. */
const PRISMA_MIGRATE_LOCK = 72707369

export interface MigrateOptions {
  migrationsDir?: URL
  log?: (message: string) => void
}

export class MigrationError extends StartupError {
  override name = 'MigrationError'
}

export async function migrate (databaseUrl: string, { migrationsDir = MIGRATIONS_DIR, log = () => {} }: MigrateOptions = {}): Promise<string[]> {
  await ensureDatabase(databaseUrl, log)
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 })
  // A connection lost mid-way fails the query in flight, which says so; unheard, the client's
  // 'error' event would crash the process with a stack trace instead.
  client.on('error', () => {})
  await client.connect()
  let locked = false
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK])
    locked = true
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`)
    const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL'
    )
    const failed = rows.find((row) => row.finished_at === null)
    if (failed) {
      throw new MigrationError(
        `migration ${failed.migration_name} failed earlier; fix the cause, then delete its row from _prisma_migrations to retry it (docs/ops.md, "Migrations")`
      )
    }
    const applied = new Map(rows.map((row) => [row.migration_name, row.checksum]))

    const done: string[] = []
    for (const name of migrationNames(migrationsDir)) {
      const sql = readFileSync(new URL(`${name}/migration.sql`, migrationsDir))
      const checksum = createHash('sha256').update(sql).digest('hex')
      const appliedChecksum = applied.get(name)
      if (appliedChecksum !== undefined) {
        if (appliedChecksum !== checksum) log(`warning: migration ${name} was edited after it was applied (checksum differs)`)
        continue
      }
      const id = randomUUID()
      // One transaction per migration, its bookkeeping row included: PostgreSQL DDL is
      // transactional, so a failure, or the process killed half-way, leaves neither a half-applied
      // migration nor a row claiming one (which would block every later start).
      try {
        await client.query('BEGIN')
        await client.query('INSERT INTO "_prisma_migrations" (id, checksum, migration_name) VALUES ($1, $2, $3)', [id, checksum, name])
        const before = await transactionId(client)
        await client.query(sql.toString('utf8'))
        // A file with its own COMMIT would have committed the row, unfinished, and ended ours.
        if ((await transactionId(client)) !== before) throw new Error('it must not contain BEGIN, COMMIT or ROLLBACK: each migration runs in a transaction of its own')
        await client.query('UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1', [id])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        // Recorded as Prisma records a failure (no finished_at, the error in logs): later runs stop.
        // With the connection gone, this fails too: then nothing is recorded, and the error said is the first one.
        await client.query(
          'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET logs = EXCLUDED.logs, finished_at = NULL',
          [id, checksum, name, String(err)]
        ).catch(() => {})
        throw new MigrationError(`migration ${name} failed: ${(err as Error).message}`)
      }
      log(`applied migration ${name}`)
      done.push(name)
    }
    return done
  } finally {
    // Ending the connection would release it too, but not on the embedded database, whose one
    // session every client shares (db/embedded.ts).
    if (locked) await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK]).catch(() => {})
    await client.end()
  }
}

async function transactionId (client: pg.Client): Promise<string | null> {
  const { rows } = await client.query<{ id: string | null }>('SELECT txid_current_if_assigned()::text AS id')
  return rows[0]?.id ?? null
}

function migrationNames (dir: URL): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && /^\d{14}_/.test(entry.name))
    .map((entry) => entry.name)
    .sort()
}

/** Creates the database named in the URL when it does not exist yet (as `prisma migrate dev` does). */
async function ensureDatabase (databaseUrl: string, log: (message: string) => void): Promise<void> {
  const probe = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 })
  try {
    await probe.connect()
    return
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err // 3D000: database does not exist
  } finally {
    await probe.end().catch(() => {})
  }
  const url = new URL(databaseUrl)
  const name = decodeURIComponent(url.pathname.slice(1))
  url.pathname = '/postgres'
  const admin = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000 })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`)
    log(`created database ${name}`)
  } catch (err) {
    if ((err as { code?: string }).code !== '42P04') throw err // created meanwhile by another process
  } finally {
    await admin.end()
  }
}
