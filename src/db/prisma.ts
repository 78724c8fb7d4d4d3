import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../generated/prisma/client.js'

export type Database = PrismaClient

/**
 * Prisma through the pg driver adapter: no native query engine, so it runs wherever Node does.
 * The timeouts make a request fail (503) rather than wait while Postgres is away or stalled:
 * `query_timeout` is enforced by the client, so it holds even when the server answers nothing.
 */
export function createDatabase(databaseUrl: string, timeoutMs: number): Database {
  const adapter = new PrismaPg({ connectionString: databaseUrl, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs })
  return new PrismaClient({ adapter })
}
