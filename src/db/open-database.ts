import type { DatabaseTarget } from '../config/index.js'
import { redactUrl } from '../shared/redact-url.js'

/** A database ready for the pg driver: its URL, where it is (for the start-up line), how to let it go. */
export interface OpenDatabase {
  url: string
  where: string
  close(): Promise<void>
}

export interface OpenDatabaseOptions {
  role: 'server' | 'cli'
  /** The pool the caller opens on it (DATABASE_POOL_SIZE). */
  poolSize: number
  log: (message: string) => void
}

/** Connections the embedded database accepts beyond its owner's pool: `gatehouse` commands. */
const EMBEDDED_SPARE_CONNECTIONS = 16

/**
 * DATABASE_URL as it is (migrated at start-up by server.ts), or the embedded database, opened,
 * migrated and served on its socket, or reached through the server that owns it (db/embedded.ts).
 */
export async function openDatabase (target: DatabaseTarget, { role, poolSize, log }: OpenDatabaseOptions): Promise<OpenDatabase> {
  if (target.mode === 'postgres') return { url: target.url, where: `PostgreSQL at ${redactUrl(target.url)}`, close: async () => {} }
  // Loaded here: with a DATABASE_URL, nothing of the embedded database is.
  const { openEmbeddedDatabase } = await import('./embedded.js')
  const embedded = await openEmbeddedDatabase(target.dir, { role, maxConnections: poolSize + EMBEDDED_SPARE_CONNECTIONS, log })
  const servedBy = embedded.servedBy === 'this process' ? '' : `, served by the Gatehouse server (pid ${embedded.servedBy.pid})`
  return { url: embedded.url, where: `the embedded PostgreSQL (PGlite) in ${target.dir}${servedBy}`, close: embedded.close }
}
