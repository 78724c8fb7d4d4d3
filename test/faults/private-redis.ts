import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { sleep } from '../helpers.js'

/** A redis-server of the test's own, on a free loopback port: the only kind a test may kill or pause. */
export interface PrivateRedis {
  url: string
  /** SIGKILL: gone without a goodbye, as in a crash. */
  kill(): Promise<void>
  /** A fresh, empty server on the same port (as after a restart without persistence). */
  start(): Promise<void>
  /** SIGSTOP / SIGCONT: the process is there but answers nothing. */
  freeze(): void
  thaw(): void
  /** CLIENT PAUSE: Redis itself holds every client's commands for `ms`. */
  pause(ms: number): Promise<void>
}

export async function startPrivateRedis(t: Test): Promise<PrivateRedis> {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let proc: ChildProcess | null = null

  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    // Bounded wait for it to answer.
    for (let i = 0; i < 100; i++) {
      if (await ping(url)) return
      await sleep(50)
    }
    throw new Error(`private redis-server on ${port} did not start`)
  }
  const kill = async () => {
    if (!proc || proc.exitCode !== null) return
    const exited = once(proc, 'exit')
    proc.kill('SIGCONT')
    proc.kill('SIGKILL')
    await exited
  }
  await start()
  t.teardown(kill)

  return {
    url,
    kill,
    start,
    freeze: () => proc?.kill('SIGSTOP'),
    thaw: () => proc?.kill('SIGCONT'),
    async pause(ms) {
      const admin = new Redis(url)
      await admin.call('CLIENT', 'PAUSE', String(ms), 'ALL')
      admin.disconnect()
    },
  }
}

async function ping(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  redis.on('error', () => {})
  try {
    await redis.connect()
    return (await redis.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    redis.disconnect()
  }
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}
