import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../generated/prisma/client.js'
import { succeedsWithin } from '../shared/time-limit.js'

export type Database = PrismaClient

/**
 * Prisma through the pg driver adapter: no native query engine, so it runs wherever Node does.
 * The timeouts make a request fail (503) rather than wait while Postgres is away or stalled:
 * `query_timeout` is enforced by the client, so it holds even when the server answers nothing.
 * `poolSize` bounds this instance's connections (DATABASE_POOL_SIZE): N instances open at most
 * N x poolSize, which must stay under Postgres' max_connections (docs/scaling.md). A request that
 * finds every connection busy waits for one, within `timeoutMs`, then gets 503.
 */
export function createDatabase (databaseUrl: string, timeoutMs: number, poolSize: number): Database {
  const adapter = new PrismaPg({ connectionString: databaseUrl, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, max: poolSize })
  return new PrismaClient({ adapter })
}

/**
 * Prisma loads and compiles its Wasm query compiler at the first query: about a second on a busy
 * machine, longer than /ready waits. Running that first query at start-up means neither the first
 * readiness probe nor the first login pays for it. Bounded, and never fatal: with Postgres away the
 * app still starts and answers 503 where it needs it.
 */
export async function warmUp (db: Database, timeoutMs: number): Promise<void> {
  await succeedsWithin(timeoutMs, () => db.$queryRaw`SELECT 1`)
}
