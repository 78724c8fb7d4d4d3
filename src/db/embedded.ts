import { chmodSync, existsSync, mkdirSync, mkdtempSync, opendirSync, readdirSync, realpathSync, renameSync, rmSync } from 'node:fs'
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StartupError } from '../shared/startup-error.js'
import { acquireFolderLock, type LockHolder } from './folder-lock.js'
import { migrate, MigrationError } from './migrate.js'
import { checkOwnedByMe, NotOwnedError } from './ownership.js'

/**
 * The embedded database: PostgreSQL itself, compiled to WebAssembly (PGlite), in a folder, for
 * development without a PostgreSQL server. It is served over PostgreSQL's wire protocol on a Unix
 * socket in that folder (pglite-socket), so everything else is unchanged: the pg driver, Prisma's
 * pg adapter, the migration runner, and every query Gatehouse builds. The socket is also how a
 * `gatehouse` command reaches the database while the server owns it (docs/ops.md).
 *
 * The folder: `pgdata/` (PostgreSQL's data directory), `lock.json` (its owner, see folder-lock.ts)
 * and the socket `.s.PGSQL.5432`.
 */
export interface EmbeddedDatabase {
  /** A postgresql:// URL for the pg driver: the socket's folder as `host`. */
  url: string
  /** Who serves it: this process, or the Gatehouse server that owns the folder. */
  servedBy: 'this process' | { pid: number }
  close(): Promise<void>
}

export class EmbeddedDatabaseError extends StartupError {
  override name = 'EmbeddedDatabaseError'
}

export interface EmbeddedOptions {
  /** A server serves the database to `gatehouse` commands; a command owns it only while it runs. */
  role: 'server' | 'cli'
  /** Connections the socket accepts: the owner's pool, and room for commands beside it. */
  maxConnections: number
  log: (message: string) => void
}

const SOCKET_FILE = '.s.PGSQL.5432'
/** sun_path holds 108 bytes on Linux, 104 on macOS, with the terminating NUL. */
const SOCKET_PATH_MAX = 100
/** How long to wait for a `gatehouse` command that holds the folder to finish. */
const COMMAND_WAIT_MS = 15_000

export async function openEmbeddedDatabase (dir: string, options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  try {
    return await open(dir, options)
  } catch (err) {
    // Whatever the file system or PGlite says, one line that names the folder.
    if (err instanceof EmbeddedDatabaseError || err instanceof MigrationError) throw err
    if (err instanceof NotOwnedError) throw new EmbeddedDatabaseError(err.message)
    throw new EmbeddedDatabaseError(`cannot open the embedded database in ${dir}: ${(err as Error).message}`)
  }
}

async function open (given: string, { role, maxConnections, log }: EmbeddedOptions): Promise<EmbeddedDatabase> {
  let dir = given
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    // One folder, one name: through a symlink it is still the same lock.
    dir = realpathSync(dir)
  } catch (err) {
    throw folderError(dir, err)
  }
  // Another user's folder is refused, as PostgreSQL refuses a data directory it does not own
  // (ownership.ts). Ours is made 0700 rather than refused for its mode: PGlite writes its files
  // world-readable (and some writable), so the folder is what keeps other users out, and a file
  // another user left in it while it was open to them is refused by the checks on each file.
  checkOwnedByMe(dir, "the embedded database's folder")
  checkHoldsOnlyTheDatabase(dir)
  try {
    chmodSync(dir, 0o700)
  } catch (err) {
    throw folderError(dir, err)
  }
  const socketDir = Buffer.byteLength(join(dir, SOCKET_FILE)) <= SOCKET_PATH_MAX ? dir : null
  const waitUntil = Date.now() + COMMAND_WAIT_MS
  for (;;) {
    // A path too long for a socket: one in a private temporary folder, named in lock.json.
    const ownSocketDir = socketDir ?? mkdtempSync(join(tmpdir(), 'gatehouse-db-'))
    const lock = await acquireFolderLock(dir, { role, socketDir: ownSocketDir }, answers)
    const removeOwnSocketDir = () => {
      if (socketDir === null) rmSync(ownSocketDir, { recursive: true, force: true })
    }
    if (lock.owned) {
      const letGo = () => {
        lock.release()
        removeOwnSocketDir()
      }
      try {
        // A command never creates the database: in another working directory, a relative
        // EMBEDDED_DATABASE_DIR names another folder, and a new empty database would hide that.
        if (role === 'cli' && !existsSync(join(dir, 'pgdata'))) {
          throw new EmbeddedDatabaseError(`there is no embedded database in ${dir} yet: the server creates it on its first start (npm start). Run gatehouse from the folder the server runs in, or set EMBEDDED_DATABASE_DIR to its absolute path`)
        }
        return await serve(dir, ownSocketDir, { maxConnections, log }, letGo)
      } catch (err) {
        letGo()
        throw err
      }
    }
    removeOwnSocketDir()
    const { holder } = lock
    if (holder.role === 'server') {
      if (role === 'server') {
        if (holder.pid === process.pid) throw new EmbeddedDatabaseError(`the embedded database in ${dir} is already open in this process`)
        throw new EmbeddedDatabaseError(`the embedded database in ${dir} is in use by another Gatehouse server (pid ${holder.pid}); stop that one, or give this one its own EMBEDDED_DATABASE_DIR or a DATABASE_URL`)
      }
      if (!(await answers(holder))) {
        throw new EmbeddedDatabaseError(`the Gatehouse server (pid ${holder.pid}) that owns the embedded database in ${dir} is not serving it yet (still starting?); try again in a moment`)
      }
      return { url: socketUrl(holder.socketDir), servedBy: { pid: holder.pid }, close: async () => {} }
    }
    // A command holds it for the second or two it runs: wait for it, within reason.
    if (Date.now() > waitUntil) {
      throw new EmbeddedDatabaseError(`the embedded database in ${dir} is in use by a gatehouse command (pid ${holder.pid}) for more than ${COMMAND_WAIT_MS / 1000} s; try again when it has finished`)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** The folder cannot be made, resolved or made private: one line that names it, and the way out. */
function folderError (dir: string, err: unknown): EmbeddedDatabaseError {
  return new EmbeddedDatabaseError(`cannot create the embedded database's folder ${dir} (${(err as NodeJS.ErrnoException).code ?? err}); set EMBEDDED_DATABASE_DIR to a writable folder of yours, or DATABASE_URL`)
}

/** The names the embedded database writes in its folder (serve, folder-lock.ts). */
const OWN_NAMES = /^(pgdata|pgdata\.creating-\d+|lock\.json|lock\.takeover|\.s\.PGSQL\.5432)$/
/** Enough to tell an empty folder, or a database's, from another: the database writes a handful. */
const ENTRIES_LOOKED_AT = 100

/**
 * Refuses a folder that holds files of something else and no embedded database: the folder is made
 * 0700, and EMBEDDED_DATABASE_DIR=/tmp (or /, or a home folder) by mistake, as root, which owns
 * them, would lock every other user out of it. As initdb refuses a data directory that is not empty.
 */
function checkHoldsOnlyTheDatabase (dir: string): void {
  if (existsSync(join(dir, 'pgdata')) || existsSync(join(dir, 'lock.json'))) return
  const entries = opendirSync(dir)
  try {
    for (let i = 0; i < ENTRIES_LOOKED_AT; i++) {
      const entry = entries.readSync()
      if (entry === null) return
      if (!OWN_NAMES.test(entry.name)) {
        throw new EmbeddedDatabaseError(`the embedded database's folder ${dir} holds other files (${entry.name}) and no embedded database: set EMBEDDED_DATABASE_DIR to a folder of its own (it is made private to its owner), or to an empty one`)
      }
    }
  } finally {
    entries.closeSync()
  }
}

/** Opens PGlite on the folder (creating it on first use), migrates it, and serves it on the socket. */
async function serve (dir: string, socketDir: string, { maxConnections, log }: Omit<EmbeddedOptions, 'role'>, release: () => void): Promise<EmbeddedDatabase> {
  // Loaded here: a server on a real PostgreSQL never loads the WebAssembly build (some 30 MB).
  const [{ PGlite }, { PGLiteSocketServer }, { pg_trgm }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket'), import('@electric-sql/pglite/contrib/pg_trgm')])
  const dataDir = join(dir, 'pgdata')
  checkOwnedByMe(dataDir, "the embedded database's data directory")
  for (const leftover of readdirSync(dir).filter((name) => name.startsWith('pgdata.creating-'))) {
    rmSync(join(dir, leftover), { recursive: true, force: true })
  }
  if (!existsSync(dataDir)) {
    // initdb into a side folder, renamed into place once whole: a first start that is interrupted
    // leaves nothing that looks like a database.
    log(`creating the embedded database in ${dataDir} (first start: some seconds)`)
    const creating = `${dataDir}.creating-${process.pid}`
    await initdbInChildProcess(creating)
    renameSync(creating, dataDir)
  }
  // PGlite's contrib extensions are not in its data directory: each is handed to it at every start.
  // pg_trgm: the admin's email search (prisma/migrations/20261207200000_user_search).
  const db = await PGlite.create(dataDir, { extensions: { pg_trgm } })
  const socketPath = join(socketDir, SOCKET_FILE)
  rmSync(socketPath, { force: true }) // left by an owner that did not close (we hold the lock)
  const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections })
  try {
    await server.start()
    chmodSync(socketPath, 0o600) // only this user may connect (no password: trust, as PGlite has)
    const url = socketUrl(socketDir)
    await migrate(url, { log })
    let closed: Promise<void> | undefined
    return {
      url,
      servedBy: 'this process',
      close: () => (closed ??= (async () => {
        await server.stop()
        await db.close()
        rmSync(socketPath, { force: true })
        release()
      })()),
    }
  } catch (err) {
    // openEmbeddedDatabase turns what is not already one line into one.
    await server.stop().catch(() => {})
    await db.close().catch(() => {})
    throw err
  }
}

/** Runs PGlite's first start in a process of its own (see pglite-initdb.js), whose memory goes with it. */
async function initdbInChildProcess (folder: string): Promise<void> {
  const child = fork(fileURLToPath(new URL('./pglite-initdb.js', import.meta.url)), [folder], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)))
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null]
  if (code !== 0) {
    const reason = stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exit ${code ?? signal}`
    throw new EmbeddedDatabaseError(`cannot create the embedded database in ${folder}: ${reason}`)
  }
}

/**
 * PGlite has one user and one database, both `postgres`; `host` is the socket's folder. Every part
 * is spelled out (the port names the socket file), so PGPORT, PGSSLMODE and the like in the
 * environment, meant for some other PostgreSQL, cannot redirect it.
 */
function socketUrl (socketDir: string): string {
  return `postgresql://postgres@localhost:5432/postgres?host=${encodeURIComponent(socketDir)}&sslmode=disable`
}

/** Whether a holder's socket accepts a connection: it is serving. */
async function answers (holder: LockHolder): Promise<boolean> {
  // Its URL is handed to the pg driver: only a socket of this user's, in a folder of this user's.
  const path = join(holder.socketDir, SOCKET_FILE)
  checkOwnedByMe(holder.socketDir, "the embedded database's socket folder")
  checkOwnedByMe(path, "the embedded database's socket")
  return await new Promise((resolve) => {
    const socket = connect(path)
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
