import bcrypt from 'bcryptjs'
import { randomBytes } from 'node:crypto'
import { availableParallelism, cpus } from 'node:os'
import { Redis } from 'ioredis'
import {
  api, API_ENV, BCRYPT_COST, cleanUp, EMAIL_DOMAIN, figures, type Figures, getMe, load, machine, ME_CONNECTIONS, median, PASSWORD,
  PREFIX, ratio, REDIS_URL, resultsFile, ROUND_SECONDS, row, rssMb, type Server, sleep, start, startApi, summary,
} from './harness.js'

/**
 * `npm run bench`: the API as production runs it (built, NODE_ENV=production, info logs to a file,
 * bcrypt cost 12) against the local Redis and Postgres, and beside it the practical limit: a
 * minimal Fastify server whose route is one PEXPIRE (bench/baseline.ts). autocannon drives both
 * from this process, in alternating rounds so the machine's noise falls on both alike; the
 * figures that matter are the ratios. Everything it starts and writes (its own key prefix, its
 * own users in its own database) is stopped and removed at the end, also on Ctrl-C.
 *
 * Env: BENCH_ROUND_SECONDS (5), BENCH_REDIS_URL, BENCH_DATABASE_URL, BENCH_CPU_PROF=1 (write a
 * --cpu-prof profile of the API into bench/profiles/), BENCH_API_ENV="LOG_LEVEL=warn,..." (settings
 * of the API to try; the results record them).
 */
/** Passes over all four scenarios; the RSS is compared between them (BENCH_PASSES to check for a plateau). */
const PASSES = Number(process.env.BENCH_PASSES ?? 2)
const STORM_CONNECTIONS = 10
const STORM_USERS = 10

/** The targets of issue 6, as ratios measured in this run. */
const TARGETS = { meRps: 0.8, meP99: 1.5, stormP99: 2, rssMb: 150, loginShare: 0.8 }

/** Logins spread over several users (one user's concurrent logins would only measure its cap). */
function loginStorm (server: Server, emails: string[], duration: number) {
  let next = 0
  return load({
    url: server.url,
    connections: STORM_CONNECTIONS,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/sessions',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: JSON.stringify({ email: emails[next++ % emails.length], password: PASSWORD }) }),
      },
    ],
  })
}

/** One compare of bcryptjs at the production cost, on this thread with nothing else running. */
function bcryptCompareSeconds (): number {
  const hash = bcrypt.hashSync(PASSWORD, BCRYPT_COST)
  const times = [0, 1, 2].map(() => {
    const started = process.hrtime.bigint()
    bcrypt.compareSync(PASSWORD, hash)
    return Number(process.hrtime.bigint() - started) / 1e9
  })
  return median(times)
}

const mark = (ok: boolean) => (ok ? 'met' : 'MISSED')

async function main (): Promise<void> {
  const began = Date.now()
  const cores = availableParallelism()
  const compareSeconds = bcryptCompareSeconds()
  console.log(`bench: ${cores} cores (${cpus()[0]?.model.trim()}), node ${process.version}; one bcryptjs compare at cost ${BCRYPT_COST}: ${compareSeconds.toFixed(3)} s`)

  const redis = new Redis(REDIS_URL, { lazyConnect: true })
  process.once('SIGINT', () => {
    console.error('bench: interrupted, cleaning up')
    void cleanUp(redis).finally(() => process.exit(130))
  })
  try {
    await redis.connect()
    const baselineKey = `${PREFIX}baseline`
    await redis.hset(baselineKey, 'user_id', 'baseline')

    const apiServer = await startApi(REDIS_URL)
    // Resident memory once listening, before any request: what an idle instance costs.
    const rssAtStart = rssMb(apiServer)
    const baseline = await start('baseline', ['dist-bench/bench/baseline.js'], { REDIS_URL, BENCH_KEY: baselineKey }, '/me')

    // A user for GET /me, users for the storm, and a session that is logged out before the 401 runs.
    const email = (name: string) => `${name}-${randomBytes(4).toString('hex')}@${EMAIL_DOMAIN}`
    const meEmail = email('me')
    const stormEmails = Array.from({ length: STORM_USERS }, (_, i) => email(`storm${i}`))
    for (const address of [meEmail, ...stormEmails]) await api(apiServer, 'POST', '/users', { email: address, password: PASSWORD })
    const token = (await api(apiServer, 'POST', '/sessions', { email: meEmail, password: PASSWORD })).token as string
    const loggedOut = (await api(apiServer, 'POST', '/sessions', { email: meEmail, password: PASSWORD })).token as string
    await api(apiServer, 'DELETE', '/sessions/current', undefined, loggedOut)

    // Warm-up: JIT, connection pools, the token cache.
    await Promise.all([getMe(baseline, token, 2), getMe(apiServer, token, 2)].map((p) => p.then(() => undefined)))
    await getMe(apiServer, token, 2)

    const runs = { baseline: [] as Figures[], me: [] as Figures[], storm: [] as Figures[], stormLogins: [] as { perSecond: number; figures: Figures }[], alone: [] as { perSecond: number; limit: number; figures: Figures }[], gone: [] as Figures[], goneBaseline: [] as Figures[] }
    const rss: number[] = []
    for (let pass = 0; pass < PASSES; pass++) {
      // (1) GET /me, alternating with the baseline (and which goes first) round by round.
      for (let round = 0; round < 2; round++) {
        const order = (pass + round) % 2 === 0 ? ['baseline', 'me'] as const : ['me', 'baseline'] as const
        for (const side of order) runs[side].push(figures(await getMe(side === 'me' ? apiServer : baseline, token)))
      }
      // (3) logins alone, against the limit bcrypt sets on this machine right now: cores / the time
      // of one compare, measured here just before (run before the storm, so that no login of another
      // scenario is still holding a bcrypt thread).
      const limit = cores / bcryptCompareSeconds()
      const alone = await loginStorm(apiServer, stormEmails, ROUND_SECONDS * 2)
      runs.alone.push({ perSecond: (alone.statusCodeStats?.['201']?.count ?? 0) / alone.duration, limit, figures: figures(alone) })
      // (2) GET /me while 10 connections log in, for twice a round.
      const [me, storm] = await Promise.all([getMe(apiServer, token, ROUND_SECONDS * 2), loginStorm(apiServer, stormEmails, ROUND_SECONDS * 2)])
      runs.storm.push(figures(me))
      runs.stormLogins.push({ perSecond: (storm.statusCodeStats?.['201']?.count ?? 0) / storm.duration, figures: figures(storm) })
      // The storm's last logins are still in the bcrypt threads for a moment: let them finish.
      await sleep(2000)
      // (4) the logged-out token: every answer must be 401.
      runs.goneBaseline.push(figures(await getMe(baseline, token)))
      runs.gone.push(figures(await getMe(apiServer, loggedOut)))
      rss.push(rssMb(apiServer))
    }

    const base = summary(runs.baseline)
    const me = summary(runs.me)
    const storm = summary(runs.storm)
    const gone = summary(runs.gone)
    const goneBase = summary(runs.goneBaseline)
    const stormLogins = median(runs.stormLogins.map((l) => l.perSecond))
    const aloneLogins = median(runs.alone.map((l) => l.perSecond))
    const loginLimit = median(runs.alone.map((l) => l.limit))
    const loginShare = ratio(median(runs.alone.map((l) => l.perSecond / l.limit)), 1)

    // Anything but the expected answer makes the run worthless: say so rather than report it.
    const wrong: string[] = []
    const only = (label: string, rounds: Figures[], code: string) => {
      for (const r of rounds) {
        const other = Object.entries(r.statuses).filter(([c]) => c !== code)
        if (other.length > 0 || r.errors > 0) wrong.push(`${label}: ${JSON.stringify(r.statuses)}, ${r.errors} errors/timeouts`)
      }
    }
    only('baseline', [...runs.baseline, ...runs.goneBaseline], '200')
    only('GET /me', [...runs.me, ...runs.storm], '200')
    only('GET /me after logout', runs.gone, '401')
    only('POST /sessions', [...runs.alone, ...runs.stormLogins].map((l) => l.figures), '201')

    const results = {
      date: new Date().toISOString(),
      machine: machine(),
      settings: { apiEnv: API_ENV, roundSeconds: ROUND_SECONDS, passes: PASSES, meConnections: ME_CONNECTIONS, stormConnections: STORM_CONNECTIONS, bcryptCost: BCRYPT_COST },
      bcrypt: { compareSecondsAtStart: compareSeconds, loginLimitPerSecond: loginLimit },
      scenarios: {
        baseline: base,
        me: { ...me, rpsRatio: ratio(me.rps, base.rps), p99Ratio: ratio(me.p99, base.p99) },
        meDuringStorm: { ...storm, p99VsNoStorm: ratio(storm.p99, me.p99), rpsRatio: ratio(storm.rps, base.rps), loginsPerSecond: stormLogins },
        loginsAlone: { perSecond: aloneLogins, shareOfLimit: loginShare, runs: runs.alone },
        stormLogins: runs.stormLogins,
        meAfterLogout: { ...gone, baselineRps: goneBase.rps, rpsRatio: ratio(gone.rps, goneBase.rps), p99Ratio: ratio(gone.p99, goneBase.p99) },
      },
      memory: { rssMbAtStart: Math.round(rssAtStart * 10) / 10, rssMbAfterEachPass: rss.map((mb) => Math.round(mb * 10) / 10), growth: ratio(rss.at(-1)!, rss[0]!) },
      targets: {} as Record<string, { value: number; target: string; met: boolean }>,
      invalid: wrong,
      seconds: 0,
    }
    const t = results.targets
    t.meRps = { value: results.scenarios.me.rpsRatio, target: `>= ${TARGETS.meRps}x baseline req/s`, met: results.scenarios.me.rpsRatio >= TARGETS.meRps }
    t.meP99 = { value: results.scenarios.me.p99Ratio, target: `<= ${TARGETS.meP99}x baseline p99`, met: results.scenarios.me.p99Ratio <= TARGETS.meP99 }
    t.stormP99 = { value: results.scenarios.meDuringStorm.p99VsNoStorm, target: `<= ${TARGETS.stormP99}x /me p99 without the storm`, met: results.scenarios.meDuringStorm.p99VsNoStorm <= TARGETS.stormP99 }
    t.loginShare = { value: results.scenarios.loginsAlone.shareOfLimit, target: `>= ${TARGETS.loginShare} of cores / one compare`, met: results.scenarios.loginsAlone.shareOfLimit >= TARGETS.loginShare }
    t.rss = { value: Math.max(...rss), target: `< ${TARGETS.rssMb} MB after the whole run`, met: Math.max(...rss) < TARGETS.rssMb }
    t.rssGrowth = { value: results.memory.growth, target: '<= 1.05x from the first pass to the last', met: results.memory.growth <= 1.05 }
    results.seconds = Math.round((Date.now() - began) / 1000)

    const ms = (n: number) => n.toFixed(2)
    console.log()
    console.log(row(['scenario', 'req/s', 'p50 ms', 'p99 ms', 'req/s ratio', 'p99 ratio']))
    console.log(row(['baseline: PEXPIRE + JSON (50 conns)', Math.round(base.rps), ms(base.p50), ms(base.p99), '1', '1']))
    console.log(row(['1. GET /me (50 conns)', Math.round(me.rps), ms(me.p50), ms(me.p99), results.scenarios.me.rpsRatio, results.scenarios.me.p99Ratio]))
    console.log(row(['2. GET /me during a login storm', Math.round(storm.rps), ms(storm.p50), ms(storm.p99), results.scenarios.meDuringStorm.rpsRatio, `${t.stormP99.value} of (1)`]))
    console.log(row(['   the storm: logins/s', stormLogins.toFixed(2), '', '', '', '']))
    console.log(row(['3. POST /sessions alone: logins/s', aloneLogins.toFixed(2), '', '', `${t.loginShare.value} of limit`, '']))
    console.log(row(['4. GET /me after logout (401)', Math.round(gone.rps), ms(gone.p50), ms(gone.p99), results.scenarios.meAfterLogout.rpsRatio, results.scenarios.meAfterLogout.p99Ratio]))
    console.log()
    console.log(`login limit: ${cores} cores / one compare = ${loginLimit.toFixed(2)} logins/s (median of the passes); API RSS at start ${results.memory.rssMbAtStart} MB, after each pass: ${results.memory.rssMbAfterEachPass.join(', ')} MB`)
    for (const [name, target] of Object.entries(t)) console.log(`target ${name.padEnd(10)} ${String(target.value).padEnd(8)} ${target.target.padEnd(45)} ${mark(target.met)}`)
    if (wrong.length > 0) console.log(`\nINVALID RUN, unexpected answers:\n${wrong.join('\n')}`)

    const file = resultsFile('bench', results)
    console.log(`\nresults: ${file} (${results.seconds} s)`)
    if (wrong.length > 0) process.exitCode = 1
  } finally {
    await cleanUp(redis)
  }
}

main().catch((err: unknown) => {
  console.error('bench failed:', err)
  process.exitCode = 1
  return cleanUp(undefined)
})
