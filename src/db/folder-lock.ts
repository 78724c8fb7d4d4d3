import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { uptime } from 'node:os'
import { join } from 'node:path'
import { checkOwnedByMe } from './ownership.js'

/**
 * One process at a time owns the embedded database's folder: PostgreSQL's own rule for a data
 * directory (its postmaster.pid), kept the same way. `lock.json` is created exclusively and names
 * its owner; a lock whose process is gone (or which was written before the machine last booted)
 * is stale and is taken over. Taking over is the one step that deletes a lock, so it runs under a
 * second, short-lived guard (`lock.takeover`, a directory: mkdir is atomic) and deletes only the
 * exact stale lock it read: two processes that find the same stale lock never both own the folder.
 */
export interface LockHolder {
  pid: number
  /** Who holds it: a server serves the database to others on `socketDir`; a CLI command does not. */
  role: 'server' | 'cli'
  /** Where the holder's PostgreSQL socket is (`.s.PGSQL.5432` inside it). */
  socketDir: string
  /** When the machine booted, as the holder saw it: a lock from before a reboot is stale. */
  bootedAt: number
  startedAt: string
}

export type Acquired = { owned: true; release: () => void } | { owned: false; holder: LockHolder }

const LOCK_FILE = 'lock.json'
const TAKEOVER_GUARD = 'lock.takeover'
/** A guard older than this was left by a process that died while taking over (it takes ms). */
const TAKEOVER_GUARD_STALE_MS = 10_000
/** An empty lock is one being written (microseconds), or left by a crash between create and write. */
const EMPTY_LOCK_STALE_MS = 2_000
/** Clocks drift and `uptime` is coarse; a different boot is hours or days away. */
const BOOT_TOLERANCE_MS = 60_000
/** Bounds the retries when the lock changes hands under us. */
const ATTEMPTS = 50

/** The locks this process holds (a second open in the same process is refused, not taken over). */
const heldHere = new Set<string>()

export const bootedAt = () => Date.now() - uptime() * 1000

/**
 * Takes the folder's lock, or says who holds it. `stillServing` answers whether a holder whose pid
 * says nothing here (gone, ours, our parent's, from another boot) is in fact alive: its socket
 * answers, so it runs where we cannot see its pid, and is not stale.
 */
export async function acquireFolderLock (
  dir: string,
  me: Omit<LockHolder, 'pid' | 'bootedAt' | 'startedAt'>,
  stillServing: (holder: LockHolder) => Promise<boolean>
): Promise<Acquired> {
  const path = join(dir, LOCK_FILE)
  const mine = JSON.stringify({ pid: process.pid, ...me, bootedAt: bootedAt(), startedAt: new Date().toISOString() } satisfies LockHolder)
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (createExclusive(path, mine)) {
      heldHere.add(path)
      return {
        owned: true,
        release: () => {
          heldHere.delete(path)
          releaseIfMine(path, mine)
        },
      }
    }
    const raw = readLockOrNull(path)
    if (raw === null) continue // released between our two steps: try again
    const holder = parseHolder(raw)
    if (holder !== null && (await isAlive(path, holder, stillServing))) return { owned: false, holder }
    if (holder === null && ageMs(path) < EMPTY_LOCK_STALE_MS) {
      await pause(50)
      continue
    }
    await takeOver(dir, path, raw)
  }
  throw new Error(`could not take the lock ${path}: it kept changing hands`)
}

function createExclusive (path: string, content: string): boolean {
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
  try {
    writeSync(fd, content)
  } finally {
    closeSync(fd)
  }
  return true
}

async function isAlive (path: string, holder: LockHolder, stillServing: (holder: LockHolder) => Promise<boolean>): Promise<boolean> {
  // Our own pid (a container's process is pid 1 at every start) or our parent's (npm): a lock
  // from an earlier process that had the same pid, unless this process took it, or its socket
  // answers (pid 1 in another container sharing the folder).
  if (holder.pid === process.pid) return heldHere.has(path) || stillServing(holder)
  if (holder.pid === process.ppid) return stillServing(holder)
  try {
    process.kill(holder.pid, 0)
  } catch (err) {
    // ESRCH: no such process here; but one in another pid namespace (a container sharing the
    // folder) would look the same, and it may be serving. EPERM: it exists, under another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return stillServing(holder)
  }
  if (Math.abs(holder.bootedAt - bootedAt()) < BOOT_TOLERANCE_MS) return true
  return stillServing(holder)
}

/** Deletes the stale lock `seen`, and nothing else, under the takeover guard. */
async function takeOver (dir: string, path: string, seen: string): Promise<void> {
  const guard = join(dir, TAKEOVER_GUARD)
  try {
    mkdirSync(guard)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    if (ageMs(guard) > TAKEOVER_GUARD_STALE_MS) rmSync(guard, { recursive: true, force: true })
    else await pause(50)
    return
  }
  try {
    if (readOrNull(path) === seen) unlinkSync(path)
  } finally {
    rmSync(guard, { recursive: true, force: true })
  }
}

function releaseIfMine (path: string, mine: string): void {
  if (readOrNull(path) === mine) rmSync(path, { force: true })
}

function parseHolder (raw: string): LockHolder | null {
  try {
    const holder = JSON.parse(raw) as Partial<LockHolder>
    if (!Number.isSafeInteger(holder.pid) || (holder.pid as number) <= 0) return null
    if (holder.role !== 'server' && holder.role !== 'cli') return null
    if (typeof holder.socketDir !== 'string' || typeof holder.bootedAt !== 'number') return null
    return holder as LockHolder
  } catch {
    return null
  }
}

/**
 * The lock as its holder wrote it, if this user's: another user's lock.json is refused, never
 * trusted (it names the socket to connect to) nor taken over. Checked on the file opened, not
 * on its name, and a symlink is not followed.
 */
function readLockOrNull (path: string): string | null {
  let fd: number
  try {
    // O_NONBLOCK: a FIFO in its place (left while the folder was open to others) would block
    // this open until someone wrote to it, for good; so it opens, and is refused below.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return null
    if (code === 'ELOOP') throw new Error(`${path} is a symbolic link, not a lock file: remove it`)
    throw err
  }
  try {
    const stats = fstatSync(fd)
    checkOwnedByMe(path, "the embedded database's lock", stats)
    if (!stats.isFile()) throw new Error(`${path} is not a file, as a lock is: remove it`)
    return readFileSync(fd, 'utf8')
  } finally {
    closeSync(fd)
  }
}

function readOrNull (path: string): string | null {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

function ageMs (path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs
  } catch {
    return 0
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
