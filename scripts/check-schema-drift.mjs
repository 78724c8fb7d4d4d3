#!/usr/bin/env node
// Checks that prisma/migrations produce exactly the schema in prisma/schema.prisma, the way
// `prisma migrate diff` would, without Prisma's native schema engine (it cannot be downloaded
// here): applies the migrations to a scratch database with src/db/migrate.ts (built to dist/),
// then asks Prisma's Wasm schema engine for the SQL that would take that database to the
// datamodel. Anything but an empty diff is drift: a model change without its migration, or a
// hand-written migration that does not match the model.
//
//   node scripts/check-schema-drift.mjs [--schema prisma/schema.prisma] [--database-url URL]
//
// Exit 0: in sync. Exit 1: drift (the missing SQL is printed). Exit 2: the check itself failed.
// Dev-only: @prisma/schema-engine-wasm is an internal Prisma package with no stable API, pinned
// to the build that matches the installed prisma; upgrade the two together.
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PrismaPg } from '@prisma/adapter-pg'
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils'
import pg from 'pg'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    schema: { type: 'string', default: resolve(ROOT, 'prisma/schema.prisma') },
    'database-url': { type: 'string', default: process.env.TEST_DATABASE_URL ?? 'postgresql://postgres:postgres@127.0.0.1:5432/gatehouse_test' },
  },
})

/** pg's OID for the internal one-byte "char" type (pg_catalog columns), which adapter-pg cannot map. */
const PG_CHAR = 18
const PG_TEXT = 25

/** A pool whose results report "char" columns as text, so the engine can read the catalog. */
class CatalogFriendlyPool extends pg.Pool {
  async query (...params) {
    const result = await super.query(...params)
    for (const field of result?.fields ?? []) if (field.dataTypeID === PG_CHAR) field.dataTypeID = PG_TEXT
    return result
  }
}

async function loadSchemaEngine () {
  const dir = resolve(ROOT, 'node_modules/@prisma/schema-engine-wasm')
  // Node 20 cannot import .wasm modules: instantiate it by hand with the package's JS glue.
  const glue = await import(resolve(dir, 'schema_engine_bg.js'))
  const { instance } = await WebAssembly.instantiate(readFileSync(resolve(dir, 'schema_engine_bg.wasm')), { './schema_engine_bg.js': glue })
  glue.__wbg_set_wasm(instance.exports)
  instance.exports.__wbindgen_start()
  return glue.SchemaEngine
}

/**
 * Prisma cannot read back the operator class of a B-tree index (`ops: raw("text_pattern_ops")`):
 * its diff drops and re-creates such an index every time, identical (Prisma issue 28214). A DROP
 * INDEX of an index that the same diff creates again with a statement written, word for word, in
 * one of the migrations is that, not drift: both are left out. Anything else is still reported.
 */
function withoutIndexRoundTrips (diff) {
  const migrations = readdirSync(resolve(ROOT, 'prisma/migrations'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    // A migration may say IF NOT EXISTS (an index ops built beforehand, CONCURRENTLY); the diff never does.
    .map((entry) => readFileSync(resolve(ROOT, 'prisma/migrations', entry.name, 'migration.sql'), 'utf8').replaceAll('CREATE INDEX IF NOT EXISTS ', 'CREATE INDEX '))
  const steps = diff.split(/\n\s*\n/)
  const createdAgain = new Set(steps.flatMap((step) => {
    const create = step.match(/^CREATE INDEX "([^"]+)" .*;$/m)
    return create && migrations.some((sql) => sql.includes(create[0])) ? [create[1]] : []
  }))
  const roundTrip = (step) => {
    const name = step.match(/^(?:DROP INDEX|CREATE INDEX) "([^"]+)"/m)?.[1]
    return name !== undefined && createdAgain.has(name) && steps.some((other) => other.includes(`DROP INDEX "${name}";`))
  }
  return steps.filter((step) => !roundTrip(step)).join('\n\n')
}

async function withAdmin (url, sql) {
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    await admin.query(sql)
  } finally {
    await admin.end()
  }
}

async function main () {
  const { migrate } = await import(resolve(ROOT, 'dist/db/migrate.js'))
  const scratch = new URL(args['database-url'])
  const name = `gatehouse_drift_${randomBytes(4).toString('hex')}`
  // Dropped from the maintenance database: the --database-url one may not exist yet.
  const admin = new URL(scratch)
  admin.pathname = '/postgres'
  scratch.pathname = `/${name}`
  await migrate(scratch.toString())
  let pool
  try {
    const schema = readFileSync(args.schema, 'utf8')
    const files = [{ path: 'schema.prisma', content: schema }]
    pool = new CatalogFriendlyPool({ connectionString: scratch.toString() })
    const adapter = bindMigrationAwareSqlAdapterFactory(new PrismaPg(pool))
    const SchemaEngine = await loadSchemaEngine()
    const engine = await SchemaEngine.new({ datamodels: [['schema.prisma', schema]] }, () => {}, adapter)
    const { stdout } = await engine.diff({
      from: { tag: 'schemaDatasource', files, configDir: ROOT },
      to: { tag: 'schemaDatamodel', files },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    })
    const missing = withoutIndexRoundTrips(stdout.replace(/^-- This is an empty migration\.\s*$/m, '')).trim()
    if (missing === '') {
      console.log('schema drift: none (prisma/migrations produce prisma/schema.prisma exactly)')
      return 0
    }
    console.log(`schema drift: the migrations do not produce the schema; missing:\n\n${missing}\n`)
    return 1
  } finally {
    await pool?.end()
    await withAdmin(admin.toString(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  }
}

// Exit explicitly: the Wasm engine leaves long timers armed that would keep the process idle.
main().then(
  (code) => process.exit(code),
  (err) => {
    console.error('schema drift: the check failed:', err)
    process.exit(2)
  }
)
