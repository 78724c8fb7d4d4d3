import { DATABASE_URL, importBuilt, PASSWORD } from './harness.js'

/**
 * `npm run bench:memory`: where the API's resident memory goes before it serves anything. Loads
 * the pieces one at a time, as the server does, and prints the RSS after each (after a full GC),
 * so the memory target can be argued with numbers (docs/performance.md). Run with --expose-gc.
 */
// The benchmark database, created and migrated if need be (pg is loaded by Prisma's adapter anyway).
const { migrate } = await importBuilt('db/migrate.js')
await migrate(DATABASE_URL)

const rssMb = () => Math.round(process.memoryUsage().rss / 2 ** 20)
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
let last = rssMb()
const step = async (name: string, work: () => Promise<unknown>) => {
  await work()
  gc()
  const now = rssMb()
  console.log(`${name.padEnd(52)} ${String(now).padStart(4)} MB  (+${now - last})`)
  last = now
}

console.log(`${'node, with pg (migrations checked)'.padEnd(52)} ${String(last).padStart(4)} MB`)
await step('fastify, ioredis, pino (imported)', () => Promise.all([import('fastify'), import('ioredis'), import('pino')]))
const { createDatabase } = await importBuilt('db/prisma.js')
let db: { user: { findFirst(query: object): Promise<unknown> }; $disconnect(): Promise<void> } | undefined
await step('Prisma client, after 200 queries (query compiler)', async () => {
  const client: NonNullable<typeof db> = createDatabase(DATABASE_URL, 2000, 10)
  db = client
  for (let i = 0; i < 200; i++) await client.user.findFirst({ where: { email: `nobody-${i}@example.invalid` } })
})
const { createPasswordHasher } = await importBuilt('users/password-hasher.js')
let passwords: { hash(password: string): Promise<string>; stats(): { threads: number }; close(): Promise<void> } | undefined
await step('bcrypt pool, 2 threads, after 8 hashes', async () => {
  // Let go after 1 s idle here (10 s in the server), so the next step need not wait long.
  const pool: NonNullable<typeof passwords> = await createPasswordHasher({ cost: 10, threads: 2, maxQueue: 8, deadlineMs: 60_000, nice: 10, idleMs: 1000 })
  passwords = pool
  await Promise.all(Array.from({ length: 8 }, () => pool.hash(PASSWORD)))
})
await step('bcrypt threads let go once idle', async () => {
  while (passwords!.stats().threads > 0) await new Promise((resolve) => setTimeout(resolve, 100))
})
await step('the rest of the app (routes, swagger, prom-client...)', () => importBuilt('app.js'))
await passwords?.close()
await db?.$disconnect()
