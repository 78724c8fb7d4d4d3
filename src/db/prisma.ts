import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../generated/prisma/client.js'

export type Database = PrismaClient

/**
 * Prisma through the pg driver adapter: no native query engine, so it runs wherever Node does.
 * The connect timeout makes a request fail (503) rather than wait while Postgres is away.
 */
export function createDatabase(databaseUrl: string): Database {
  const adapter = new PrismaPg({ connectionString: databaseUrl, connectionTimeoutMillis: 2000 })
  return new PrismaClient({ adapter })
}
