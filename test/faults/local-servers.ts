import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'

// Servers of a test's (or a benchmark's) own, on free loopback ports. Dependency-light on purpose:
// the benchmarks (bench/) use it too, without the test helpers.

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
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

/** Starts a redis-server (no persistence) on `port` and waits, bounded, until it answers. */
export async function spawnRedisServer(port: number, extraArgs: string[] = []): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    if (await ping(`redis://127.0.0.1:${port}`)) return proc
    if (proc.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  proc.kill('SIGKILL')
  throw new Error(`a private redis-server on ${port} did not start (is redis-server installed?)`)
}
