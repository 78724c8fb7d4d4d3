import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { migrate } from '../../src/db/migrate.js'
import { eventually, sleep } from '../helpers/wait.js'
import { freePort } from './local-servers.js'

/** A PostgreSQL server of the test's own (Debian's binaries, a temporary data directory): the only kind a test may kill or freeze. */
export interface PrivatePostgres {
  /** Its `postgres` database, migrated. */
  url: string
  /** SIGKILL to the server and all its backends: a crash. */
  kill(): Promise<void>
  /** Starts it again on the same data and port (crash recovery included). */
  start(): Promise<void>
  /** SIGSTOP / SIGCONT to every process of the server: it accepts connections but answers nothing. */
  freeze(): void
  thaw(): void
}

export async function startPrivatePostgres (t: Test): Promise<PrivatePostgres> {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b))
  const bin = (name: string) => `/usr/lib/postgresql/${versions.at(-1)}/bin/${name}`
  // PostgreSQL refuses to run as root: as root (CI), its processes run as the `postgres` user.
  const owner = process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres'])), gid: Number(execFileSync('id', ['-g', 'postgres'])) } : {}
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'))
  if ('uid' in owner) chownSync(dir, owner.uid!, owner.gid!)
  const data = join(dir, 'data')
  execFileSync(bin('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { ...owner, stdio: 'ignore', timeout: 60_000 })
  const port = await freePort()
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`
  let proc: ChildProcess | null = null

  const start = async () => {
    proc = spawn(bin('postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], { ...owner, stdio: 'ignore' })
    if (await eventually(10_000, () => accepts(url), { intervalMs: 50 })) return
    throw new Error(`private postgres on ${port} did not start`)
  }
  // Every backend is a child of the postmaster in a session of its own (PostgreSQL calls setsid),
  // so each one is signalled by its pid.
  const signal = (name: NodeJS.Signals) => {
    if (proc?.exitCode !== null || !proc.pid) return
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(proc.pid)]).toString().split(/\s+/).filter(Boolean).map(Number)
    for (const pid of [proc.pid, ...children]) {
      try {
        process.kill(pid, name)
      } catch {
        // Gone already.
      }
    }
  }
  const kill = async () => {
    if (!proc || proc.exitCode !== null) return
    const exited = once(proc, 'exit')
    signal('SIGCONT')
    signal('SIGKILL')
    await exited
    // Backends that outlive their postmaster notice and exit; give the last ones a moment (a sleep:
    // they are no longer the postmaster's children, nothing here can ask for them).
    await sleep(200)
  }
  await start()
  t.teardown(async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  })
  await migrate(url)
  return { url, kill, start, freeze: () => signal('SIGSTOP'), thaw: () => signal('SIGCONT') }
}

async function accepts (url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}
