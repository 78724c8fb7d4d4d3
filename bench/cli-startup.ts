import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { api, BENCH_PRIVATE_KEY, cleanUp, DATABASE_URL, EMAIL_DOMAIN, machine, median, PASSWORD, PREFIX, ratio, REDIS_URL, resultsFile, ROOT, row, stop, startApi } from './harness.js'

/**
 * `npm run bench:cli [-- --baseline <ref> --runs N]`: how long the command-line tool takes
 * from start to exit, and its peak resident memory, for two builds in one run: the working tree's
 * dist/ (the candidate, built by prebench) and a baseline git ref, built into a temporary
 * directory. Runs alternate between the builds, and which goes first, so the machine's noise and any
 * order effect fall on both alike; the figures that matter are the candidate/baseline ratios.
 *
 * The commands: `ttl get` (Redis only) and `sessions list --user <email>` (Postgres, then Redis)
 * for a user with a few sessions, created through the API of a server the bench starts. Both
 * builds get the same environment (the bench's key prefix, database and secret) and an empty
 * working directory, so no .env is read. A run that exits non-zero or prints something else than
 * expected stops the bench: a failure must never be timed as a fast start.
 *
 * Options and env: --baseline <ref> or BENCH_CLI_BASELINE (b9c9d4c), --runs N or BENCH_CLI_RUNS
 * (15 per command and build), --warmup N (2, not counted: the first starts read the disk),
 * BENCH_REDIS_URL, BENCH_DATABASE_URL. CPU time and peak memory come from GNU time
 * (/usr/bin/time). On a busy machine the wall times mostly measure the wait for a core: the CPU
 * time and the run-by-run ratios then say more; the results record the load average.
 */
const { values: options } = parseArgs({
  options: {
    baseline: { type: 'string', default: process.env.BENCH_CLI_BASELINE ?? 'b9c9d4c' },
    runs: { type: 'string', default: process.env.BENCH_CLI_RUNS ?? '15' },
    warmup: { type: 'string', default: '2' },
  },
  strict: true,
})
const count = (name: string, value: string, least: number) => {
  if (!/^\d+$/.test(value) || Number(value) < least) throw new Error(`--${name} must be a whole number of at least ${least} (got "${value}")`)
  return Number(value)
}
const RUNS = count('runs', options.runs, 1)
const WARMUP = count('warmup', options.warmup, 0)
const SESSIONS = 5
const TIME = '/usr/bin/time'
const TIMEOUT_MS = 60_000
// Long enough that the sessions outlive any number of runs; the CLI reads the same setting.
const SESSION_TTL_SECONDS = 86_400

type BuildName = 'candidate' | 'baseline'

interface Build {
  name: BuildName
  /** The CLI's entry point, dist/cli/index.js of this build. */
  cli: string
}

interface Command {
  name: string
  args: string[]
  /** Why this output is not the command's answer, or null when it is. */
  check(stdout: string): string | null
}

interface Run {
  /** Wall time from spawn to exit. */
  ms: number
  /** User + system CPU time of the process (all its threads), in 10 ms steps. */
  cpuMs: number
  rssKb: number
}

const git = (...args: string[]) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).trim()

/** The baseline ref's tree, exported from git (no worktree: the repository's metadata stays as it is) and built with its own build script. */
function buildBaseline (commit: string, dir: string): Build {
  const tree = join(dir, 'tree')
  mkdirSync(tree)
  git('archive', '--format=tar', '-o', join(dir, 'baseline.tar'), commit)
  execFileSync('tar', ['-xf', join(dir, 'baseline.tar'), '-C', tree])
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(tree, 'node_modules'))
  const began = Date.now()
  const built = spawnSync('npm', ['run', '--silent', 'build'], { cwd: tree, encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`building the baseline ${commit} failed (exit ${built.status}):\n${(built.stdout + built.stderr).slice(-3000)}`)
  console.log(`baseline ${commit.slice(0, 10)} built in ${((Date.now() - began) / 1000).toFixed(1)} s`)
  return { name: 'baseline', cli: join(tree, 'dist/cli/index.js') }
}

/** One start of the CLI under GNU time: the wall time from spawn to exit, the child's CPU time and peak RSS. */
async function runOnce (build: Build, command: Command, env: Record<string, string>, cwd: string): Promise<Run & { stdout: string }> {
  const rssFile = join(cwd, '..', `rss-${build.name}`)
  const began = performance.now()
  const child = spawn(TIME, ['-f', '%M %U %S', '-o', rssFile, process.execPath, build.cli, ...command.args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  let ms = 0
  child.once('exit', () => (ms = performance.now() - began))
  const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS)
  // 'close' comes after 'exit', once the output has been read to its end.
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null]
  clearTimeout(timer)
  const failure = code !== 0 ? `exit ${code ?? signal}` : command.check(stdout)
  if (failure !== null) throw new Error(`${build.name} \`gatehouse ${command.args.join(' ')}\` failed (${failure}):\nstdout: ${stdout.slice(-1000)}\nstderr: ${stderr.slice(-1000)}`)
  // GNU time may write other lines before its figures (e.g. "Command exited with non-zero status"); they are on the last.
  const timed = readFileSync(rssFile, 'utf8')
  const [rssKb, user, system] = (timed.trim().split('\n').at(-1) ?? '').split(' ').map(Number)
  if (!(rssKb! > 0) || !Number.isFinite(user) || !Number.isFinite(system)) throw new Error(`${TIME} gave no figures: ${timed}`)
  return { ms, cpuMs: Math.round((user! + system!) * 1000), rssKb: rssKb!, stdout }
}

/** Nearest-rank percentile. */
const percentile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.max(0, Math.ceil(q * values.length) - 1)]!
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits

function stats (runs: Run[]) {
  const ms = runs.map((r) => r.ms)
  const cpu = runs.map((r) => r.cpuMs)
  const mb = runs.map((r) => r.rssKb / 1024)
  return {
    wallMs: { median: round(median(ms)), p90: round(percentile(ms, 0.9)), min: round(Math.min(...ms)), max: round(Math.max(...ms)), runs: ms.map((v) => round(v)) },
    cpuMs: { median: median(cpu), p90: percentile(cpu, 0.9), runs: cpu },
    rssMb: { median: round(median(mb)), max: round(Math.max(...mb)), runs: mb.map((v) => round(v)) },
  }
}

/**
 * The median of the ratios of runs made side by side (run i of each build): a change in the
 * machine's load between runs falls on both halves of a pair, so this is steadier than the ratio
 * of the two medians when other processes come and go.
 */
const pairedRatio = (candidate: number[], baseline: number[]) => ratio(median(candidate.map((c, i) => c / baseline[i]!)), 1)

async function main (): Promise<void> {
  const began = Date.now()
  const loadBefore = round(loadavg()[0]!, 2)
  accessSync(TIME, constants.X_OK)
  const candidate: Build = { name: 'candidate', cli: join(ROOT, 'dist/cli/index.js') }
  if (!existsSync(candidate.cli)) throw new Error(`${candidate.cli} is missing: run npm run build (npm run bench:cli does)`)
  let baselineCommit: string
  try {
    baselineCommit = git('rev-parse', '--verify', '--quiet', `${options.baseline}^{commit}`)
  } catch {
    throw new Error(`--baseline: no commit named "${options.baseline}" in ${ROOT}`)
  }
  const head = git('rev-parse', 'HEAD')
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== ''

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-cli-'))
  const redis = new Redis(REDIS_URL, { lazyConnect: true })
  const cleanUpAll = async () => {
    await cleanUp(redis)
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('SIGINT', () => {
    console.error('bench:cli: interrupted, cleaning up')
    void cleanUpAll().finally(() => process.exit(130))
  })
  try {
    await redis.connect()
    const baseline = buildBaseline(baselineCommit, dir)
    const cwd = join(dir, 'cwd')
    mkdirSync(cwd)

    // A user with a few sessions, made through the API; the API is stopped before the runs so it idles on no core.
    const jwtSecret = randomBytes(48).toString('base64')
    // Both keys: the baseline build may be a release that signed with HS256 by default.
    const server = await startApi(REDIS_URL, { JWT_SECRET: jwtSecret, JWT_PRIVATE_KEY: BENCH_PRIVATE_KEY, SESSION_TTL_SECONDS: String(SESSION_TTL_SECONDS) })
    const email = `cli-${process.pid}@${EMAIL_DOMAIN}`
    await api(server, 'POST', '/users', { email, password: PASSWORD })
    for (let i = 0; i < SESSIONS; i++) await api(server, 'POST', '/sessions', { email, password: PASSWORD })
    await stop(server)

    const env = {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      DATABASE_URL,
      REDIS_URL,
      REDIS_KEY_PREFIX: PREFIX,
      JWT_SECRET: jwtSecret,
      JWT_PRIVATE_KEY: BENCH_PRIVATE_KEY,
      SESSION_TTL_SECONDS: String(SESSION_TTL_SECONDS),
    }
    const commands: Command[] = [
      {
        name: 'ttl get',
        args: ['ttl', 'get'],
        check: (stdout) => (/^session TTL: .*\(86400 s\), the default/.test(stdout.trim()) ? null : 'not the default TTL'),
      },
      {
        name: 'sessions list --user',
        args: ['sessions', 'list', '--user', email],
        check: (stdout) => {
          const lines = stdout.trim().split('\n')
          return lines[0] === `${email}: ${SESSIONS} live session(s)` && lines.length === SESSIONS + 2 ? null : `not the ${SESSIONS} sessions`
        },
      },
    ]

    const builds = [candidate, baseline]
    const runs = new Map(commands.map((c) => [c, { candidate: [] as Run[], baseline: [] as Run[] }]))
    const differ = new Set<string>()
    console.log(`${commands.length} commands x ${builds.length} builds: ${WARMUP} warm-up + ${RUNS} runs each, alternating\n`)
    for (let i = -WARMUP; i < RUNS; i++) {
      // The candidate goes first on even runs, the baseline on odd ones: neither always has the warmer cache.
      const order = Math.abs(i) % 2 === 0 ? builds : [...builds].reverse()
      for (const command of commands) {
        const outputs: Partial<Record<BuildName, string>> = {}
        for (const build of order) {
          const { stdout, ...run } = await runOnce(build, command, env, cwd)
          outputs[build.name] = stdout
          if (i >= 0) runs.get(command)![build.name].push(run)
        }
        if (outputs.candidate !== outputs.baseline) differ.add(command.name)
      }
    }

    const results = {
      date: new Date().toISOString(),
      machine: machine(),
      settings: { runs: RUNS, warmup: WARMUP, sessions: SESSIONS },
      builds: {
        candidate: { dist: 'dist/ of the working tree', head, dirty },
        baseline: { ref: options.baseline, commit: baselineCommit },
      },
      commands: commands.map((command) => {
        const { candidate, baseline } = runs.get(command)!
        const c = stats(candidate)
        const b = stats(baseline)
        return {
          command: command.name,
          args: command.args,
          candidate: c,
          baseline: b,
          ratios: {
            wallMedian: ratio(c.wallMs.median, b.wallMs.median),
            wallP90: ratio(c.wallMs.p90, b.wallMs.p90),
            wallPaired: pairedRatio(c.wallMs.runs, b.wallMs.runs),
            cpuMedian: ratio(c.cpuMs.median, b.cpuMs.median),
            cpuPaired: pairedRatio(c.cpuMs.runs, b.cpuMs.runs),
            rssMedian: ratio(c.rssMb.median, b.rssMb.median),
          },
          outputsDiffer: differ.has(command.name),
        }
      }),
      load: { before: loadBefore, after: round(loadavg()[0]!, 2) },
      seconds: 0,
    }
    results.seconds = Math.round((Date.now() - began) / 1000)

    console.log(row(['command / build', 'median ms', 'p90 ms', 'min ms', 'CPU ms', 'RSS MB', 'max RSS MB']))
    for (const c of results.commands) {
      for (const name of ['candidate', 'baseline'] as const) {
        const s = c[name]
        console.log(row([`${c.command}: ${name}`, s.wallMs.median, s.wallMs.p90, s.wallMs.min, s.cpuMs.median, s.rssMb.median, s.rssMb.max]))
      }
      const r = c.ratios
      console.log(row([`  candidate / baseline${c.outputsDiffer ? ' (outputs differ)' : ''}`, r.wallMedian, r.wallP90, '', r.cpuMedian, r.rssMedian, '']))
      console.log(row(['  the same, run by run (median)', r.wallPaired, '', '', r.cpuPaired, '', '']))
    }
    const [before, after] = [results.load.before, results.load.after]
    if (Math.max(before, after) > results.machine.cores) console.log(`\nthe machine was busy (load average ${before} before, ${after} after, on ${results.machine.cores} cores): wall times include waiting for a core; CPU time and the ratios are the steadier figures`)
    console.log(`\nbaseline: ${options.baseline} (${baselineCommit.slice(0, 10)}); candidate: dist/ of ${head.slice(0, 10)}${dirty ? ' with uncommitted changes' : ''}`)
    console.log(`results: ${resultsFile('cli-startup', results)} (${results.seconds} s)`)
  } finally {
    await cleanUpAll()
  }
}

main().catch((err: unknown) => {
  console.error('bench:cli failed:', err)
  process.exitCode = 1
})
