import type { Config } from '../config/index.js'
import { openDatabase, type OpenDatabaseOptions } from '../db/open-database.js'
import { createDatabase, type Database } from '../db/prisma.js'

/** Prisma on the configured database, where that is (for the start-up line), how to let both go. */
export interface UsersDatabase {
  db: Database
  where: string
  /** Disconnects Prisma, then lets the database go (the embedded one: closes it, or its socket). */
  close(): Promise<void>
}

/**
 * DATABASE_URL, or the embedded database (which the server owns and serves, and a command reaches
 * through the server's socket, or opens while no server runs: db/embedded.ts), with a Prisma pool of
 * DATABASE_POOL_SIZE on it.
 */
export async function openUsersDatabase (config: Config, { role, log }: Pick<OpenDatabaseOptions, 'role' | 'log'>): Promise<UsersDatabase> {
  const { database, databaseTimeoutMs, databasePoolSize } = config
  const opened = await openDatabase(database, { role, poolSize: databasePoolSize, log })
  let db: Database
  try {
    db = createDatabase(opened.url, databaseTimeoutMs, databasePoolSize)
  } catch (err) {
    await opened.close()
    throw err
  }
  return {
    db,
    where: opened.where,
    async close () {
      await db.$disconnect()
      await opened.close()
    },
  }
}
