import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { cgroupSupport, createMemoryCgroup, type MemoryCgroup } from './cgroups.js'
import {
  API_ENV, cleanUp, cpuMicros, EMAIL_DOMAIN, figures, type Figures, load, machine, ME_CONNECTIONS, median, PASSWORD, ratio, resultsFile,
  ROUND_SECONDS, row, type Server, sleep, startApi, startRedis,
} from './harness.js'
import { createSessions, insertUsers } from './live-sessions.js'

/**
 * `npm run bench:container`: the API in a container's memory limit. The same build runs three
 * times side by side, each inside a memory cgroup of its own: without a limit, at 256 MiB (a
 * common container limit) and at a smaller one (BENCH_CONTAINER_LIMITS_MIB, "256,192"). GET /me
 * over BENCH_SESSIONS live sessions (each request the next token, as `npm run bench` sends them)
 * goes to each in turn, round after round, the order rotating; the figures are each limited
 * server's req/s and CPU time per answer over the unlimited one's (CPU per answer is the steadier
 * of the two on a shared machine), its garbage collections per 1000 answers (counted in the
 * server by bench/gc-observer.ts, loaded into every side), and the peak memory each cgroup was charged (v1 memory.max_usage_in_bytes,
 * v2 memory.peak) and its RSS. Before the rounds each server also serves a few logins, so that
 * the bcrypt threads' memory is part of the peak.
 *
 * Needs root and a cgroup memory controller (v1 or v2); refuses in one line otherwise. Everything
 * it makes (the cgroups, the servers, a private Redis, its users) is removed at the end, also on Ctrl-C.
 *
 * Env: BENCH_CONTAINER_LIMITS_MIB ("256,192"), BENCH_CONTAINER_ROUNDS (6), BENCH_ROUND_SECONDS (5),
 * BENCH_SESSIONS (10000), BENCH_SESSION_USERS (1000), BENCH_API_ROOT, BENCH_API_ENV (as `npm run bench`).
 */
const LIMITS_MIB = [...new Set((process.env.BENCH_CONTAINER_LIMITS_MIB ?? '256,192').split(',').map(Number))]
const ROUNDS = Number(process.env.BENCH_CONTAINER_ROUNDS ?? 6)
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000)
const SESSION_USERS = Number(process.env.BENCH_SESSION_USERS ?? 1000)
/** Logins per server before the rounds: enough to start both bcrypt threads. */
const WARM_LOGINS = 4
/** The GC observer, as built beside this file; it writes its totals every 500 ms (a round waits that long before and after reading them). */
const GC_OBSERVER = fileURLToPath(new URL('./gc-observer.js', import.meta.url))
const GC_FILE_MS = 600
/** How often the servers' RSS is read during the rounds. */
const SAMPLE_MS = 250
/** The target: in a 256 MiB limit, at least this share of the unlimited server's req/s. */
const TARGET_RATIO = 0.9

/** Garbage collections on the server's main thread in a round (bench/gc-observer.ts). */
interface Collections {
  /** Young-generation collections. */
  scavenges: number
  /** Full (old-generation) collections. */
  markCompacts: number
  /** The time they held the main thread, in ms. */
  pauseMs: number
}

/** A round: GET /me's figures, the server's CPU time per answer (µs) and its collections. */
type Round = Figures & { cpuMicrosPerRequest: number, gc: Collections }

interface Side {
  name: string
  cgroup: MemoryCgroup
  server: Server & { env: Record<string, string> }
  rounds: Round[]
  /** Where bench/gc-observer.ts writes the server's collections. */
  gcFile: string
  peakRssMb: number
  peakRssAnonMb: number
}

/** VmRSS and its anonymous part (RssAnon: the heap and every other private page; the rest is mapped files, mostly the node binary), in MB. */
function rssOf (pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0)
  return { rss: Math.round(kb('VmRSS') / 102.4) / 10, anon: Math.round(kb('RssAnon') / 102.4) / 10 }
}

/** The server's collections so far, as bench/gc-observer.ts last wrote them (every 500 ms). */
const collectionsSoFar = (file: string): Collections => JSON.parse(readFileSync(file, 'utf8')) as Collections

const collectionsBetween = (before: Collections, after: Collections): Collections => ({
  scavenges: after.scavenges - before.scavenges,
  markCompacts: after.markCompacts - before.markCompacts,
  pauseMs: Math.round(after.pauseMs - before.pauseMs),
})

/**
 * Logins, two at a time (the bcrypt threads): they start the threads, whose memory belongs in the
 * peak. A 503 with Retry-After is a valid answer (a busy machine: the admission control's
 * estimate); anything else fails the run.
 */
async function warmLogins (server: Server, emails: string[]): Promise<void> {
  for (let i = 0; i < emails.length; i += 2) {
    await Promise.all(emails.slice(i, i + 2).map(async (email) => {
      const res = await fetch(`${server.url}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) })
      await res.arrayBuffer()
      if (res.status !== 201 && !(res.status === 503 && res.headers.has('retry-after'))) throw new Error(`a warm-up login answered ${res.status}`)
    }))
  }
}

const alive = (side: Side) => side.server.proc.exitCode === null && side.server.proc.signalCode === null

async function main (): Promise<void> {
  const support = cgroupSupport()
  if ('refused' in support) {
    console.error(`bench:container: ${support.refused}`)
    process.exitCode = 1
    return
  }
  if (LIMITS_MIB.some((mib) => !Number.isInteger(mib) || mib < 64 || mib > 65_536)) {
    console.error(`bench:container: BENCH_CONTAINER_LIMITS_MIB is whole MiB from 64 to 65536, comma separated (got "${process.env.BENCH_CONTAINER_LIMITS_MIB}")`)
    process.exitCode = 1
    return
  }
  const began = Date.now()
  const cgroups: MemoryCgroup[] = []
  const gcFiles: string[] = []
  let redisServer: Awaited<ReturnType<typeof startRedis>> | undefined
  let redis: Redis | undefined
  // Servers first (a cgroup with a process in it cannot be removed), then the cgroups, then Redis.
  let cleaning: Promise<void> | undefined
  const cleanAll = () => (cleaning ??= (async () => {
    await cleanUp(undefined)
    for (const cgroup of cgroups) {
      try {
        cgroup.remove()
      } catch (err) {
        console.error(`bench:container: could not remove a cgroup (${(err as Error).message}); remove it with rmdir`)
      }
    }
    for (const file of gcFiles) rmSync(file, { force: true })
    redis?.disconnect()
    await redisServer?.stop()
  })())
  process.once('SIGINT', () => {
    console.error('bench:container: interrupted, cleaning up')
    void cleanAll().finally(() => process.exit(130))
  })
  try {
    redisServer = await startRedis()
    redis = new Redis(redisServer.url)
    console.log(`bench:container: cgroup ${support.version}, node ${process.version}; limits ${LIMITS_MIB.join(', ')} MiB beside none, ${ROUNDS} rounds of ${ROUND_SECONDS} s`)

    const sides: Side[] = []
    for (const limitMib of [null, ...LIMITS_MIB]) {
      const name = limitMib === null ? 'unlimited' : `${limitMib} MiB`
      const cgroup = createMemoryCgroup(support.version, `gatehouse-bench-${process.pid}-${limitMib ?? 'unlimited'}`, limitMib)
      cgroups.push(cgroup)
      // bench/gc-observer.ts counts its collections (NODE_OPTIONS, after the start script's own flags).
      const gcFile = join(tmpdir(), `gatehouse-bench-${process.pid}-gc-${limitMib ?? 'unlimited'}.json`)
      gcFiles.push(gcFile)
      const server = await startApi(redisServer.url, { NODE_OPTIONS: `--import=${GC_OBSERVER}`, GC_OBSERVER_FILE: gcFile }, { cgroupProcs: cgroup.procs, name: `api-${limitMib ?? 'unlimited'}` })
      sides.push({ name, cgroup, server, gcFile, rounds: [], peakRssMb: 0, peakRssAnonMb: 0 })
    }
    const rssAtStart = sides.map((side) => rssOf(side.server.proc.pid!))

    // One key, one prefix, one Redis: every server accepts the same tokens.
    const tag = randomBytes(4).toString('hex')
    const users = await insertUsers(Array.from({ length: SESSION_USERS }, (_, i) => `user${i}-${tag}@${EMAIL_DOMAIN}`))
    const tokens = await createSessions(sides[0]!.server.env, users, SESSIONS)
    let next = 0
    const spreadMe = (server: Server, duration = ROUND_SECONDS) => load({
      url: server.url,
      connections: ME_CONNECTIONS,
      duration,
      requests: [{ method: 'GET', path: '/me', setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: `Token token=${tokens[next++ % tokens.length]}` } }) }],
    })

    const sample = () => {
      for (const side of sides.filter(alive)) {
        try {
          const { rss, anon } = rssOf(side.server.proc.pid!)
          side.peakRssMb = Math.max(side.peakRssMb, rss)
          side.peakRssAnonMb = Math.max(side.peakRssAnonMb, anon)
          side.cgroup.usageMb() // v2 without memory.peak: the sampled peak
        } catch {
          // It exited between the check and the read: the round that follows says so.
        }
      }
    }
    const sampler = setInterval(sample, SAMPLE_MS)
    try {
      // Warm-up: logins (the bcrypt threads start), then JIT and connection pools.
      for (const side of sides) {
        await warmLogins(side.server, users.slice(0, WARM_LOGINS).map((user) => user.email))
        await spreadMe(side.server, 2)
      }
      for (let round = 0; round < ROUNDS; round++) {
        // Which side goes first rotates: the machine's noise falls on all alike.
        const order = sides.map((_, i) => sides[(i + round) % sides.length]!)
        for (const side of order) {
          if (!alive(side)) throw new Error(`the ${side.name} server exited (${side.server.proc.signalCode ?? side.server.proc.exitCode}; ${side.cgroup.oomKills()} OOM kills in its cgroup); its log: ${side.server.log}`)
          const cpuBefore = cpuMicros(side.server)
          await sleep(GC_FILE_MS)
          const gcBefore = collectionsSoFar(side.gcFile)
          const result = figures(await spreadMe(side.server))
          await sleep(GC_FILE_MS)
          side.rounds.push({
            ...result,
            cpuMicrosPerRequest: Math.round(((cpuMicros(side.server) - cpuBefore) / Math.max(1, result.requests)) * 10) / 10,
            gc: collectionsBetween(gcBefore, collectionsSoFar(side.gcFile)),
          })
        }
      }
    } finally {
      clearInterval(sampler)
    }
    sample()

    const unlimited = sides[0]!
    const unlimitedRps = median(unlimited.rounds.map((r) => r.rps))
    const unlimitedCpu = Math.round(median(unlimited.rounds.map((r) => r.cpuMicrosPerRequest)) * 10) / 10
    const wrong = sides.flatMap((side) => side.rounds
      .filter((r) => r.errors > 0 || Object.keys(r.statuses).some((code) => code !== '200'))
      .map((r) => `${side.name}: ${JSON.stringify(r.statuses)}, ${r.errors} without an answer`))
    const results = {
      date: new Date().toISOString(),
      machine: machine(),
      settings: { cgroup: support.version, limitsMib: LIMITS_MIB, rounds: ROUNDS, roundSeconds: ROUND_SECONDS, sessions: SESSIONS, sessionUsers: SESSION_USERS, meConnections: ME_CONNECTIONS, apiEnv: API_ENV, apiRoot: process.env.BENCH_API_ROOT ?? null },
      sides: sides.map((side, i) => {
        const rps = median(side.rounds.map((r) => r.rps))
        const cpu = Math.round(median(side.rounds.map((r) => r.cpuMicrosPerRequest)) * 10) / 10
        const end = rssOf(side.server.proc.pid!)
        const perThousand = (count: (gc: Collections) => number) => Math.round(median(side.rounds.map((r) => (count(r.gc) / Math.max(1, r.requests)) * 1000)) * 100) / 100
        return {
          name: side.name,
          limitMib: side.cgroup.limitMib,
          rps,
          p99: median(side.rounds.map((r) => r.p99)),
          rpsRatio: ratio(rps, unlimitedRps),
          cpuMicrosPerRequest: cpu,
          cpuRatio: ratio(cpu, unlimitedCpu),
          /** Per 1000 answers, the median of the rounds. */
          gcPerThousandRequests: { scavenges: perThousand((gc) => gc.scavenges), markCompacts: perThousand((gc) => gc.markCompacts), pauseMs: perThousand((gc) => gc.pauseMs) },
          memory: {
            cgroupPeakMb: side.cgroup.peakMb(),
            cgroupAtEndMb: side.cgroup.usageMb(),
            rssMbAtStart: rssAtStart[i]!.rss,
            peakRssMb: side.peakRssMb,
            peakRssAnonMb: side.peakRssAnonMb,
            rssMbAtEnd: end.rss,
            rssAnonMbAtEnd: end.anon,
          },
          oomKills: side.cgroup.oomKills(),
          rounds: side.rounds,
        }
      }),
      targets: {} as Record<string, { value: number; target: string; met: boolean }>,
      invalid: wrong,
      seconds: Math.round((Date.now() - began) / 1000),
    }
    const at256 = results.sides.find((side) => side.limitMib === 256)
    if (at256) results.targets.ratio256 = { value: at256.rpsRatio, target: `>= ${TARGET_RATIO}x the unlimited server's req/s at 256 MiB`, met: at256.rpsRatio >= TARGET_RATIO }

    console.log()
    console.log(row(['GET /me, 50 connections', 'req/s', 'ratio', 'CPU µs/req', 'CPU ratio', 'GC ms/1k', 'scav./1k', 'cgroup peak', 'RSS peak', 'anon peak']))
    for (const side of results.sides) {
      const m = side.memory
      const gc = side.gcPerThousandRequests
      console.log(row([`   ${side.name}`, Math.round(side.rps), side.rpsRatio, side.cpuMicrosPerRequest, side.cpuRatio, gc.pauseMs, gc.scavenges, `${m.cgroupPeakMb} MB`, `${m.peakRssMb} MB`, `${m.peakRssAnonMb} MB`]))
    }
    for (const [name, target] of Object.entries(results.targets)) console.log(`target ${name} ${target.value} ${target.target}: ${target.met ? 'met' : 'MISSED'}`)
    if (wrong.length > 0) console.log(`\nINVALID RUN, unexpected answers:\n${wrong.join('\n')}`)
    const file = resultsFile('container', results)
    console.log(`\nresults: ${file} (${results.seconds} s)`)
    if (wrong.length > 0) process.exitCode = 1
  } finally {
    await cleanAll()
  }
}

main().catch((err: unknown) => {
  console.error('bench:container failed:', err)
  process.exitCode = 1
})
