import autocannon, { type Instance, type Options, type Result } from 'autocannon'
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { freePort, spawnRedisServer } from '../test/faults/local-servers.js'

export { freePort }

/**
 * What both benchmarks share (bench/run.ts, bench/sessions-scale.ts): the servers they start and
 * stop, the load they drive with autocannon, and how they report. Everything a benchmark creates
 * (its key prefix, its users) is removed by `cleanUp`, also after a failure or Ctrl-C.
 */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url)) // from dist-bench/bench/
/**
 * The checkout whose dist/server.js is the API under test: this one, or BENCH_API_ROOT (another
 * built checkout, with its own dist/ and node_modules, e.g. an older release to compare with).
 */
export const API_ROOT = process.env.BENCH_API_ROOT ? resolve(process.env.BENCH_API_ROOT) : ROOT
/** One of this checkout's built modules (dist/ is not part of the benchmarks' types), loaded as the server loads it. */
export const importBuilt = (path: string) => import(new URL(`../../dist/${path}`, import.meta.url).href) // from dist-bench/bench/
export const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 5)
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres:postgres@127.0.0.1:5432/gatehouse_bench'
export const PREFIX = `gatehouse-bench-${process.pid}:`
export const EMAIL_DOMAIN = 'bench.gatehouse.invalid'
export const PASSWORD = 'bench password, long enough'
export const ME_CONNECTIONS = 50
/** Settings of the API to try (BENCH_API_ENV="LOG_LEVEL=warn,..."); the results record them. */
// Split at the first '=' only: a value may hold one (NODE_OPTIONS=--max-semi-space-size=8).
export const API_ENV = Object.fromEntries((process.env.BENCH_API_ENV ?? '').split(',').filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))
/** The production cost, unless BENCH_API_ENV sets another: the bench's own hashes and its login limit follow the API's. */
export const BCRYPT_COST = Number(API_ENV.BCRYPT_COST ?? 12)

export const machine = () => ({ cores: availableParallelism(), cpu: cpus()[0]?.model.trim(), memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform })

export interface Figures {
  /** Answers received. */
  requests: number
  rps: number
  p50: number
  p99: number
  /** Answers by status code. */
  statuses: Record<string, number>
  /** Requests that got no answer: connection errors and timeouts (autocannon counts a timeout as an error too). */
  errors: number
  /** Of those, the ones that timed out. */
  timeouts: number
}

export const figures = (result: Result): Figures => ({
  requests: result.requests.total,
  rps: result.requests.total / result.duration,
  p50: result.latency.p50,
  p99: result.latency.p99,
  statuses: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, count ?? 0])),
  errors: result.errors,
  timeouts: result.timeouts,
})

/** The p-th percentile (0 to 100, nearest rank) of some latencies; 0 when there are none. */
export const percentile = (values: number[], p: number) => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The median of each figure over the rounds of one side. */
export const summary = (rounds: Figures[]) => ({
  rps: median(rounds.map((r) => r.rps)),
  p50: median(rounds.map((r) => r.p50)),
  p99: median(rounds.map((r) => r.p99)),
  rounds,
})

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface Server {
  name: string
  url: string
  proc: ChildProcess
  log: string
}

export const started: Server[] = []

/**
 * Starts a server and waits until `ready` answers. `args` are node's, unless `command` names
 * another program to run them with (e.g. a shell script that execs node: the process keeps its pid).
 */
export async function start (name: string, args: string[], env: Record<string, string>, ready: string, cwd = ROOT, command = process.execPath): Promise<Server> {
  const port = await freePort()
  const log = join(tmpdir(), `gatehouse-bench-${process.pid}-${name}.log`)
  // Logs go to a file, as in production: piping them here would load the load generator.
  const out = openSync(log, 'w')
  const proc = spawn(command, args, { cwd, env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', out, out] })
  const server = { name, url: `http://127.0.0.1:${port}`, proc, log }
  started.push(server)
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) break
    try {
      if ((await fetch(server.url + ready)).ok || ready === '/me') return server
    } catch {
      // not listening yet
    }
    await sleep(200)
  }
  throw new Error(`${name} did not start; its log:\n${readFileSync(log, 'utf8').slice(-2000)}`)
}

export async function stop (server: Server): Promise<void> {
  if (server.proc.exitCode !== null) return
  server.proc.kill('SIGTERM')
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 15_000)
  await once(server.proc, 'exit')
  clearTimeout(timer)
}

export function rssMb (server: Server): number {
  const status = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024
}

/** getconf CLK_TCK: the unit of a process' CPU times in /proc (100 on Linux in practice). */
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

/** CPU time the process has used so far, all its threads, user and system, in microseconds (/proc/<pid>/stat). */
export function cpuMicros (server: Server): number {
  const stat = readFileSync(`/proc/${server.proc.pid}/stat`, 'utf8')
  // After "pid (comm) ", whose comm may hold spaces: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND) * 1e6
}

export async function api (server: Server, method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(server.url + path, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Token token=${token}` } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return text ? (JSON.parse(text) as Record<string, unknown>) : {}
}

/** A run of autocannon: awaited for its result, and an event emitter meanwhile ('response' for each answer). */
export type Load = Instance & PromiseLike<Result>
export const load = (options: Options) => autocannon({ duration: ROUND_SECONDS, ...options }) as unknown as Load

export const getMe = (server: Server, token: string, duration = ROUND_SECONDS) =>
  load({ url: server.url + '/me', connections: ME_CONNECTIONS, duration, headers: { authorization: `Token token=${token}` } })

export async function cleanUp (redis: Redis | undefined): Promise<void> {
  await Promise.allSettled(started.map(stop))
  if (redis) {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000)
      if (keys.length > 0) await redis.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    redis.disconnect()
  }
  const db = new pg.Client({ connectionString: DATABASE_URL })
  try {
    await db.connect()
    await db.query('DELETE FROM users WHERE email LIKE $1', [`%@${EMAIL_DOMAIN}`])
  } catch {
    // the database may never have been created (the API did not start)
  } finally {
    await db.end().catch(() => {})
  }
}

export const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000
export const row = (cells: (string | number)[]) => cells.map((cell, i) => String(cell).padEnd(i === 0 ? 38 : 12)).join('')

/** One Ed25519 signing key per bench run. */
export const BENCH_PRIVATE_KEY = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()

/** How production starts the server: scripts/start.sh (npm start, the image's CMD), which sets the runtime's memory flags. */
const START_SCRIPT = 'scripts/start.sh'

export interface StartApiOptions {
  /**
   * A cgroup's `cgroup.procs` file: the server is started inside that cgroup (a shell joins it
   * and then execs the server), so that node sizes its heap from the cgroup's limit from the start.
   */
  cgroupProcs?: string
  /** The server's name in the logs' file name (several APIs side by side). */
  name?: string
}

/**
 * The API as production runs it: built, NODE_ENV=production, info logs (to a file), bcrypt at cost
 * 12, a fresh secret, started by API_ROOT's scripts/start.sh as `npm start` and the image start it
 * (a checkout from before that script: its dist/server.js with MALLOC_ARENA_MAX=2, as its `npm
 * start` ran it). EXPIRED_EVENTS=listen: expired events as usual, without changing the shared
 * Redis' configuration. BENCH_CPU_PROF=1 writes a --cpu-prof profile into bench/profiles/. `env`
 * on the answer is what the API was given on top of this process' environment (to load the same
 * Config in the bench).
 */
export async function startApi (redisUrl: string, env: Record<string, string> = {}, options: StartApiOptions = {}): Promise<Server & { env: Record<string, string> }> {
  const profile = process.env.BENCH_CPU_PROF === '1' ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench/profiles')}`] : []
  const apiEnv: Record<string, string> = {
    NODE_ENV: 'production',
    // EdDSA, the default (BENCH_API_ENV=JWT_ALGORITHM=HS256,JWT_SECRET=... measures HS256).
    JWT_PRIVATE_KEY: BENCH_PRIVATE_KEY,
    DATABASE_URL,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: PREFIX,
    BCRYPT_COST: String(BCRYPT_COST),
    LOG_LEVEL: 'info',
    EXPIRED_EVENTS: 'listen',
    SHUTDOWN_DRAIN_SECONDS: '0',
    // As `npm start` and the Docker image run it (scripts/start.sh sets it too).
    MALLOC_ARENA_MAX: '2',
    // The script runs `node`: this very one.
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
    ...env,
    ...API_ENV,
  }
  // The bench's own node flags and the ones being tried, both.
  const nodeOptions = [env.NODE_OPTIONS, API_ENV.NODE_OPTIONS].filter(Boolean).join(' ')
  if (nodeOptions) apiEnv.NODE_OPTIONS = nodeOptions
  const viaScript = existsSync(join(API_ROOT, START_SCRIPT))
  // Through NODE_OPTIONS when the script starts node: after the script's own flags, as an operator's would be.
  if (viaScript && profile.length > 0) apiEnv.NODE_OPTIONS = [...profile, apiEnv.NODE_OPTIONS ?? ''].join(' ').trim()
  const [command, ...args] = viaScript ? ['/bin/sh', START_SCRIPT] : [process.execPath, ...profile, 'dist/server.js']
  // In a cgroup: `sh -c` writes its own pid into the cgroup, then execs the server (same pid).
  const launch = options.cgroupProcs ? ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', options.cgroupProcs, command!, ...args] : [command!, ...args]
  return Object.assign(await start(options.name ?? 'api', launch.slice(1), apiEnv, '/ready', API_ROOT, launch[0]), { env: apiEnv })
}

/** A redis-server of the benchmark's own (so the shared one never holds its millions of keys); `stop` removes it whole. */
export async function startRedis (): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-redis-'))
  const proc = await spawnRedisServer(port, ['--dir', dir])
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop () {
      proc.kill('SIGKILL')
      await once(proc, 'exit').catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Writes a run's results to bench/results/<name>-<date>.json; returns the path, from the repository root. */
export function resultsFile (name: string, results: { date: string }): string {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  const file = join('bench/results', `${name}-${results.date.replace(/[:.]/g, '-')}.json`)
  writeFileSync(join(ROOT, file), JSON.stringify(results, null, 2) + '\n')
  return file
}

/**
 * Runs a benchmark on a redis-server of its own: starts it, hands `work` a client and the server's
 * URL, and afterwards, also after a failure, stops every server the benchmark started, removes its
 * users and the Redis whole. A failure is printed and sets the exit code.
 */
export function runOnPrivateRedis (name: string, work: (redis: Redis, redisUrl: string) => Promise<void>): void {
  const run = async () => {
    const server = await startRedis()
    const redis = new Redis(server.url)
    try {
      await work(redis, server.url)
    } finally {
      await cleanUp(undefined)
      redis.disconnect()
      await server.stop()
    }
  }
  run().catch((err: unknown) => {
    console.error(`${name} failed:`, err)
    process.exitCode = 1
  })
}
