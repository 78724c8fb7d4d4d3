import { lstatSync, type Stats } from 'node:fs'
import { StartupError } from '../shared/startup-error.js'

/**
 * PostgreSQL refuses a data directory that another user owns; the embedded database's folder gets
 * the same rule, and so do the files in it that another process wrote: `lock.json` (which says
 * where to connect) and the socket (where a `gatehouse` command sends a user's credentials and
 * changes). Run as root against another user's folder, trusting them would let that user point the
 * command at a database of their own, or read what it writes.
 */
export class NotOwnedError extends StartupError {
  override name = 'NotOwnedError'
}

/**
 * Throws NotOwnedError unless `path` (not followed if a symlink) belongs to this process's
 * effective user. A path that does not exist passes: the caller creates it, or finds it missing.
 */
export function checkOwnedByMe (path: string, what: string, stats: Stats | null = lstatOrNull(path)): void {
  const me = process.geteuid?.()
  if (me === undefined || stats === null) return // Windows has no uids; the folder's ACL rules there
  if (stats.uid !== me) {
    throw new NotOwnedError(`${what} ${path} belongs to another user (uid ${stats.uid}), not to the user running Gatehouse (uid ${me}): run Gatehouse as its owner, or set EMBEDDED_DATABASE_DIR to a folder of your own`)
  }
}

function lstatOrNull (path: string): Stats | null {
  try {
    return lstatSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}
