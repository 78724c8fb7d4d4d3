import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { freePort, spawnRedisServer } from './local-servers.js'

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

export async function startPrivateRedis (t: Test, options: { niceness?: number } = {}): Promise<PrivateRedis> {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let proc: ChildProcess | null = null

  const start = async () => {
    proc = await spawnRedisServer(port, [], options)
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
    async pause (ms) {
      const admin = new Redis(url)
      await admin.call('CLIENT', 'PAUSE', String(ms), 'ALL')
      admin.disconnect()
    },
  }
}
