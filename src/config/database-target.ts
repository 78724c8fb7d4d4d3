import { resolve } from 'node:path'
import { ConfigError } from './config-error.js'
import { optional, type Parser, url } from './parsers.js'

export type DatabaseTarget =
  | { mode: 'postgres'; url: string }
  /** `dir` is absolute: the CLI and the server must name the same folder. */
  | { mode: 'embedded'; dir: string }

const postgresUrl = optional(url(['postgres:', 'postgresql:']))

/**
 * DATABASE_URL's entry: that PostgreSQL, or outside production the embedded database in
 * EMBEDDED_DATABASE_DIR. In production a missing URL stops the start: the embedded database is
 * one process's folder, which several instances cannot share.
 */
export const databaseTarget: Parser<DatabaseTarget> = {
  accepts: postgresUrl.accepts,
  parse: (name, raw, context) => {
    const { value, isSet, warn } = context
    const url = postgresUrl.parse(name, raw, context)
    const embeddedDir = value('EMBEDDED_DATABASE_DIR')
    if (url !== null) {
      if (isSet('EMBEDDED_DATABASE_DIR')) warn('EMBEDDED_DATABASE_DIR is ignored: DATABASE_URL is set')
      return { mode: 'postgres', url }
    }
    if (value('NODE_ENV')) {
      throw new ConfigError('DATABASE_URL', "is required with NODE_ENV=production (the embedded database is one process's folder, not a store instances can share)")
    }
    return { mode: 'embedded', dir: resolve(embeddedDir) }
  },
}
