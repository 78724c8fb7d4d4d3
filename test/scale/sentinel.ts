import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, spawnRedisServer } from '../faults/local-servers.js'
import { eventually } from '../helpers/wait.js'

export const PRIMARY_NAME = 'gatehouse-test'

export interface SentinelSetup {
  /** For REDIS_SENTINELS. */
  sentinels: string
  primaryPort: number
  replicaPort: number
  /** Stops every server: register it as a teardown after the app's, whose cleanup still needs them. */
  stop(): void
  /** Freezes the replica (SIGSTOP): it stays connected but confirms nothing; `resume` thaws it. */
  pauseReplica(): { resume(): void }
  /** Kills the primary outright (SIGKILL): no shutdown, no last replication. */
  killPrimary(): void
  /** The address the Sentinels give for the primary now. */
  primaryNow(): Promise<string>
}

/** eventually(), but a failure is an error naming what did not happen (a set-up step, not an assertion). */
async function until (what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  if (!(await eventually(timeoutMs, () => check().catch(() => false)))) throw new Error(`${what} within ${timeoutMs / 1000} s`)
}

/**
 * A primary, one replica and three Sentinels (quorum 2) on free loopback ports, all of this test's
 * own. Sentinel declares the primary down after 1 s of silence. If starting fails, what started is stopped.
 */
export async function startSentinelSetup (): Promise<SentinelSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sentinel-'))
  const procs: ChildProcess[] = []
  const stop = () => {
    for (const proc of procs) {
      proc.kill('SIGCONT')
      proc.kill('SIGKILL')
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const primaryPort = await freePort()
  const replicaPort = await freePort()
  const primary = await spawnRedisServer(primaryPort, ['--dir', dir])
  procs.push(primary)
  let replicaProc: ChildProcess
  try {
    replicaProc = await spawnRedisServer(replicaPort, ['--dir', dir, '--replicaof', '127.0.0.1', String(primaryPort)])
    procs.push(replicaProc)
    const replica = new Redis(replicaPort, '127.0.0.1', { lazyConnect: true })
    await until('the replica did not sync', 15_000, async () => /master_link_status:up/.test(await replica.info('replication'))).finally(() => replica.disconnect())
  } catch (err) {
    stop()
    throw err
  }

  const ports = [await freePort(), await freePort(), await freePort()]
  for (const port of ports) {
    const conf = join(dir, `sentinel-${port}.conf`)
    writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${PRIMARY_NAME} 127.0.0.1 ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${PRIMARY_NAME} 1000`,
      `sentinel failover-timeout ${PRIMARY_NAME} 10000`,
      `sentinel parallel-syncs ${PRIMARY_NAME} 1`,
    ].join('\n') + '\n')
    procs.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }))
  }
  // It may ask before that Sentinel listens: it must reconnect (stop() disconnects it before the servers go).
  const sentinel = new Redis(ports[0]!, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 100 })
  sentinel.on('error', () => {})
  try {
    // Ready for a failover: every Sentinel knows the others, and they know the replica.
    await until('the Sentinels did not find each other and the replica', 20_000, async () => {
      const peers = (await sentinel.call('SENTINEL', 'SENTINELS', PRIMARY_NAME)) as unknown[]
      const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', PRIMARY_NAME)) as unknown[]
      return peers.length === 2 && replicas.length === 1
    })
  } catch (err) {
    sentinel.disconnect()
    stop()
    throw err
  }
  return {
    sentinels: ports.map((port) => `127.0.0.1:${port}`).join(','),
    primaryPort,
    replicaPort,
    stop: () => {
      sentinel.disconnect()
      stop()
    },
    killPrimary: () => primary.kill('SIGKILL'),
    pauseReplica: () => {
      replicaProc.kill('SIGSTOP')
      return { resume: () => replicaProc.kill('SIGCONT') }
    },
    primaryNow: async () => ((await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', PRIMARY_NAME)) as string[]).join(':'),
  }
}
