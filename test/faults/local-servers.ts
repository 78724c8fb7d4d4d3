import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { eventually } from '../helpers/wait.js'

// Servers of a test's (or a benchmark's) own, on free loopback ports. Dependency-light on purpose:
// the benchmarks (bench/) use it too; of the test helpers it takes only wait.ts, which imports nothing.

/** A port nothing listens on right now. */
export async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

async function ping (url: string): Promise<boolean> {
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

/**
 * Starts a redis-server (no persistence) on `port` and waits, bounded, until it answers. With
 * `niceness` (negative: a higher CPU priority, which needs root; otherwise `nice` says so and runs
 * it as usual) the server is rarely descheduled in the middle of a command, so the durations its
 * SLOWLOG records are the commands' own work rather than the machine's scheduling.
 */
export async function spawnRedisServer (port: number, extraArgs: string[] = [], { niceness }: { niceness?: number } = {}): Promise<ChildProcess> {
  const command = ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs]
  const [file, ...args] = niceness === undefined ? command : ['nice', '-n', String(niceness), ...command]
  const proc = spawn(file!, args, { stdio: 'ignore' })
  let answers = false
  await eventually(5000, async () => (answers = await ping(`redis://127.0.0.1:${port}`)) || proc.exitCode !== null, { intervalMs: 50 })
  if (answers) return proc
  proc.kill('SIGKILL')
  throw new Error(`a private redis-server on ${port} did not start (is redis-server installed?)`)
}
