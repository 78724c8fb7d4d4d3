import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { TEST_JWT_PRIVATE_KEY, TEST_REDIS_URL, uniqueId } from './helpers/config.js'
import { deleteKeys } from './helpers/redis.js'
import { TEST_DATABASE_URL } from './helpers/db.js'
import { eventually } from './helpers/wait.js'

// The real server as a child process (`npm start`, or the built dist/server.js), for the tests
// that need real HTTP, signals and exit codes.
const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface Started {
  proc: ChildProcess
  output: () => string
}

/**
 * A key prefix of its own for a server started in its own process, its keys deleted at teardown
 * (every start writes `<prefix>config`). Call it before the teardowns that stop the process: tap
 * runs the last one added first, so the keys go once the process is gone.
 */
export function ownPrefix (t: Test): string {
  const prefix = `gatehouse-test:${uniqueId()}:`
  t.teardown(async () => {
    const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await deleteKeys(redis, prefix)
    } finally {
      redis.disconnect()
    }
  })
  return prefix
}

export function launch (command: string, args: string[], env: Record<string, string>, cwd = ROOT): Started {
  const proc = spawn(command, args, {
    cwd,
    // EXPIRED_EVENTS=listen: subscribe as usual, but leave the shared Redis' configuration alone.
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', JWT_PRIVATE_KEY: TEST_JWT_PRIVATE_KEY, DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: TEST_REDIS_URL, BCRYPT_COST: '10', BCRYPT_DEADLINE_MS: '60000', EXPIRED_EVENTS: 'listen', SHUTDOWN_DRAIN_SECONDS: '0', MAIL_TRANSPORT: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  proc.stdout!.on('data', (chunk) => (output += chunk))
  proc.stderr!.on('data', (chunk) => (output += chunk))
  return { proc, output: () => output }
}

/** Resolves with the base URL once the server logs that it listens (bounded). */
export async function listening (started: Started, timeoutMs: number): Promise<string> {
  const url = () => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(started.output())?.[1]
  await eventually(timeoutMs, () => url() !== undefined || started.proc.exitCode !== null)
  const found = url()
  if (found) return found
  throw new Error(`server did not start:\n${started.output()}`)
}

/** Waits for the process to exit (bounded); returns its exit code. */
export async function exited (started: Started, timeoutMs: number): Promise<number | null> {
  if (started.proc.exitCode !== null) return started.proc.exitCode
  const timer = setTimeout(() => process.kill(-started.proc.pid!, 'SIGKILL'), timeoutMs)
  const [code] = await once(started.proc, 'exit')
  clearTimeout(timer)
  return code
}

/** One request to a launched server over real HTTP: JSON in and out, the token as the mobile app sends it. */
export async function request (base: string, method: string, path: string, init: { body?: object; token?: string } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(init.body ? { 'content-type': 'application/json' } : {}),
      ...(init.token ? { authorization: `Token token=${init.token}` } : {}),
    },
    body: init.body ? JSON.stringify(init.body) : undefined,
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers }
}
