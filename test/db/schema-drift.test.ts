import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// The committed migrations must build exactly the schema in prisma/schema.prisma.
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const check = (...args: string[]) =>
  spawnSync('node', ['scripts/check-schema-drift.mjs', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 })

t.test('prisma/migrations produce prisma/schema.prisma exactly', async (t) => {
  const result = check()
  t.equal(result.status, 0, result.stdout + result.stderr)
  t.match(result.stdout, /schema drift: none/)
})

t.test('a model change without its migration is caught, with the SQL it needs', async (t) => {
  const schema = readFileSync(join(ROOT, 'prisma/schema.prisma'), 'utf8').replace(
    'passwordHash String   @map("password_hash")',
    'passwordHash String   @map("password_hash")\n  nickname     String?'
  )
  t.match(schema, /nickname/, 'the schema really changed')
  const dir = t.testdir({ 'schema.prisma': schema })
  const result = check('--schema', join(dir, 'schema.prisma'))
  t.equal(result.status, 1, result.stderr)
  t.match(result.stdout, /ALTER TABLE "users" ADD COLUMN\s+"nickname" TEXT;/)
})
