import bcrypt from 'bcryptjs'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { availableParallelism, cpus } from 'node:os'
import { Redis } from 'ioredis'
import {
  api, API_ENV, API_ROOT, BCRYPT_COST, cleanUp, cpuMicros, EMAIL_DOMAIN, figures, type Figures, getMe, load, type Load, machine, ME_CONNECTIONS,
  median, PASSWORD, percentile, PREFIX, ratio, REDIS_URL, resultsFile, ROUND_SECONDS, row, rssMb, type Server, sleep, start, startApi, summary,
} from './harness.js'
import { createSessions, insertUsers } from './live-sessions.js'

/**
 * `npm run bench`: the API as production runs it (built, NODE_ENV=production, info logs to a file,
 * bcrypt cost 12) against the local Redis and Postgres, and beside it the practical limit: a
 * minimal Fastify server whose route is one PEXPIRE (bench/baseline.ts). autocannon drives both
 * from this process, in alternating rounds so the machine's noise falls on both alike; the
 * figures that matter are the ratios. Everything it starts and writes (its own key prefix, its
 * own users in its own database) is stopped and removed at the end, also on Ctrl-C.
 *
 * GET /me looks like real traffic: BENCH_SESSIONS live sessions of BENCH_SESSION_USERS users, each
 * request carrying the next one's token, so that no single Redis key or cached token serves it
 * all; the baseline gets the very same requests (it ignores the header).
 *
 * Env: BENCH_ROUND_SECONDS (5), BENCH_PASSES (2), BENCH_SESSIONS (10000), BENCH_SESSION_USERS (1000),
 * BENCH_REDIS_URL, BENCH_DATABASE_URL, BENCH_API_ROOT (another built checkout whose server to run),
 * BENCH_CPU_PROF=1 (write a --cpu-prof profile of the API into bench/profiles/),
 * BENCH_API_ENV="LOG_LEVEL=warn,..." (settings of the API to try; the results record them).
 */
/** Passes over all the scenarios; the RSS is compared between them (BENCH_PASSES to check for a plateau). */
const PASSES = Number(process.env.BENCH_PASSES ?? 2)
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000)
const SESSION_USERS = Number(process.env.BENCH_SESSION_USERS ?? 1000)
const STORM_CONNECTIONS = 10
/** Users the login scenarios log in as: their sessions pile up to the cap, away from the spread ones. */
const LOGIN_USERS = 10
/** In the mixed scenario: one request in this many is GET /sessions, and a login starts this often. */
const MIXED_LIST_EVERY = 20
const MIXED_LOGIN_EVERY_MS = 500
/** As autocannon's default: a request with no answer after this long is a timeout. */
const TIMEOUT_MS = 10_000

/** The targets of issues 6 and 17, as ratios measured in this run. */
const TARGETS = { meRps: 0.8, meP99: 1.5, stormP99: 2, loginTimeouts: 0, loginShare: 0.8, rssMb: 150 }

/** Each call the next token, from one counter: every connection of a run takes from it in turn. */
function rotation (tokens: string[]) {
  let next = 0
  return () => tokens[next++ % tokens.length]!
}

const authorization = (token: string) => `Token token=${token}`

/** GET /me at 50 connections, each request with the next token of the rotation. */
const spreadMe = (server: Server, token: () => string, duration = ROUND_SECONDS) =>
  load({
    url: server.url,
    connections: ME_CONNECTIONS,
    duration,
    requests: [{ method: 'GET', path: '/me', setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: authorization(token()) } }) }],
  })

/** One kind of request: each answer's latency, and the unexpected outcomes by what they were. */
interface Kind {
  latencies: number[]
  unexpected: Record<string, number>
}

/** The rule for a login: it gets an answer, a token (201) or 503 with Retry-After; never a timeout. */
const validLogin = (status: number, retryAfter: boolean) => status === 201 || (status === 503 && retryAfter)
const statusIs = (expected: number) => (status: number) => status === expected

/**
 * One request, timed, given up after TIMEOUT_MS; an answer `valid` refuses, a timeout or a
 * connection error is counted in `kind.unexpected`. Resolves to the answer, or null.
 */
async function timed (kind: Kind, valid: (status: number, retryAfter: boolean) => boolean, server: Server, method: string, path: string, token?: string, body?: unknown) {
  const count = (what: string) => { kind.unexpected[what] = (kind.unexpected[what] ?? 0) + 1 }
  const started = performance.now()
  try {
    const res = await fetch(server.url + path, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: authorization(token) } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
    const text = await res.text()
    kind.latencies.push(performance.now() - started)
    const retryAfter = res.headers.has('retry-after')
    if (!valid(res.status, retryAfter)) count(res.status === 503 && !retryAfter ? '503 without Retry-After' : String(res.status))
    return { status: res.status, retryAfter, text }
  } catch (err) {
    count((err as Error).name === 'TimeoutError' ? 'timeout' : 'connection error')
    return null
  }
}

/** A login round: how its logins were answered, by the rule. */
interface Logins {
  /** The round's length: the rates are of the answers that came within it. */
  seconds: number
  created: number
  /** 503 with Retry-After: a valid answer. */
  refused: number
  /** Logins still in flight at the end of the round, validly answered after it (not in the rates). */
  answeredAfter: number
  /** Of every answer, including those after the round. */
  p50: number
  p99: number
  timeouts: number
  connectionErrors: number
  /** Any other answer, by status ("503 without Retry-After" for a 503 without it). */
  wrong: Record<string, number>
}

/**
 * Logins from `connections` loops, each logging in again as soon as it has its answer, for
 * `duration` seconds, spread over several users (one user's concurrent logins would only measure
 * its cap). Not autocannon: when its time is up it drops the requests in flight, uncounted, and a
 * login that got no answer must be seen. Here the logins in flight at the end are waited for, up
 * to their timeout, and judged like the others.
 */
async function logins (server: Server, emails: string[], connections: number, duration: number): Promise<Logins> {
  let next = 0
  let created = 0
  let refused = 0
  let answeredAfter = 0
  const kind: Kind = { latencies: [], unexpected: {} }
  const started = performance.now()
  const inTime = () => performance.now() - started < duration * 1000
  const loop = async () => {
    while (inTime()) {
      const answer = await timed(kind, validLogin, server, 'POST', '/sessions', undefined, { email: emails[next++ % emails.length], password: PASSWORD })
      if (!answer || !validLogin(answer.status, answer.retryAfter)) continue
      if (!inTime()) answeredAfter++
      else if (answer.status === 201) created++
      else refused++
    }
  }
  await Promise.all(Array.from({ length: connections }, loop))
  const { timeout = 0, 'connection error': connectionErrors = 0, ...wrong } = kind.unexpected
  return {
    seconds: duration,
    created,
    refused,
    answeredAfter,
    p50: percentile(kind.latencies, 50),
    p99: percentile(kind.latencies, 99),
    timeouts: timeout,
    connectionErrors,
    wrong,
  }
}

/**
 * Mixed traffic: from 50 connections GET /me over the spread tokens and, one request in 20, GET
 * /sessions (the user's list); meanwhile, every half second, one of the spread users logs in, reads
 * GET /me with the new token and logs out (that token is then dead: it never joins the rotation).
 */
async function mixed (server: Server, token: () => string, emails: string[], duration: number) {
  const kinds: Record<string, Kind> = {}
  const kind = (name: string) => (kinds[name] ??= { latencies: [], unexpected: {} })
  let sent = 0
  let answered = kind('GET /me')
  const run: Load = load({
    url: server.url,
    connections: ME_CONNECTIONS,
    duration,
    requests: [
      {
        method: 'GET',
        path: '/me',
        // The context is the connection's, fresh for each request (a single-request list starts over each time).
        setupRequest: (request, context) => {
          const path = ++sent % MIXED_LIST_EVERY === 0 ? '/sessions' : '/me'
          Object.assign(context, { path })
          return { ...request, path, headers: { ...request.headers, authorization: authorization(token()) } }
        },
        onResponse: (status, _body, context) => {
          answered = kind(`GET ${(context as { path: string }).path}`)
          if (status !== 200) answered.unexpected[String(status)] = (answered.unexpected[String(status)] ?? 0) + 1
        },
      },
    ],
  })
  // autocannon calls onResponse and then, synchronously, emits 'response' with the latency: so
  // `answered` is the kind of this very answer.
  run.on('response', (_client, _status, _bytes, ms) => answered.latencies.push(ms))

  let nextUser = 0
  let loginsRefused = 0
  const cycles: Promise<void>[] = []
  const cycle = async () => {
    const email = emails[nextUser++ % emails.length]
    const login = await timed(kind('POST /sessions'), validLogin, server, 'POST', '/sessions', undefined, { email, password: PASSWORD })
    if (login?.status === 503 && login.retryAfter) loginsRefused++
    if (login?.status !== 201) return
    const newToken = (JSON.parse(login.text) as { token: string }).token
    await timed(kind('GET /me, new token'), statusIs(200), server, 'GET', '/me', newToken)
    await timed(kind('DELETE /sessions/current'), statusIs(204), server, 'DELETE', '/sessions/current', newToken)
  }
  // Paced, not one after the other: a slow login does not slow the pace.
  const pacer = setInterval(() => cycles.push(cycle()), MIXED_LOGIN_EVERY_MS)
  const result = await run
  clearInterval(pacer)
  await Promise.all(cycles)

  const errors = result.errors + Object.values(kinds).reduce((sum, k) => sum + Object.values(k.unexpected).reduce((a, b) => a + b, 0), 0)
  return {
    seconds: result.duration,
    /** Requests autocannon got no answer to (connection errors, timeouts). */
    noAnswer: result.errors,
    errors,
    /** Logins answered 503 with Retry-After (valid; the cycle stops there). */
    loginsRefused,
    kinds: Object.fromEntries(Object.entries(kinds).map(([name, k]) => [name, { count: k.latencies.length, p99: percentile(k.latencies, 99), unexpected: k.unexpected }])),
  }
}

/** One compare of bcryptjs at the API's cost, on this thread with nothing else running. */
function bcryptCompareSeconds (): number {
  const hash = bcrypt.hashSync(PASSWORD, BCRYPT_COST)
  const times = [0, 1, 2].map(() => {
    const started = process.hrtime.bigint()
    bcrypt.compareSync(PASSWORD, hash)
    return Number(process.hrtime.bigint() - started) / 1e9
  })
  return median(times)
}

/** A GET /me round's figures, with the CPU time the server used per answer in it (µs). */
type Round = Figures & { cpuMicrosPerRequest: number }

async function measured (server: Server, run: () => Load): Promise<Round> {
  const before = cpuMicros(server)
  const result = figures(await run())
  return { ...result, cpuMicrosPerRequest: (cpuMicros(server) - before) / Math.max(1, result.requests) }
}

/** The medians of a side's rounds, CPU per request included. */
const sideSummary = (rounds: Round[]) => ({ ...summary(rounds), cpuMicrosPerRequest: median(rounds.map((r) => r.cpuMicrosPerRequest)) })

/** The API's rounds against the baseline's: medians and their ratios. */
function compared (sides: { api: Round[]; baseline: Round[] }) {
  const apiSide = sideSummary(sides.api)
  const base = sideSummary(sides.baseline)
  return {
    ...apiSide,
    baseline: base,
    rpsRatio: ratio(apiSide.rps, base.rps),
    p99Ratio: ratio(apiSide.p99, base.p99),
    cpuRatio: ratio(apiSide.cpuMicrosPerRequest, base.cpuMicrosPerRequest),
  }
}

/** The commit a checkout is at, if it is a git checkout. */
function commitOf (dir: string): string | null {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

const mark = (ok: boolean) => (ok ? 'met' : 'MISSED')
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)

async function main (): Promise<void> {
  const began = Date.now()
  const cores = availableParallelism()
  const compareSeconds = bcryptCompareSeconds()
  console.log(`bench: ${cores} cores (${cpus()[0]?.model.trim()}), node ${process.version}; one bcryptjs compare at cost ${BCRYPT_COST}: ${compareSeconds.toFixed(3)} s`)
  if (process.env.BENCH_API_ROOT) console.log(`bench: the API is ${API_ROOT}/dist/server.js (BENCH_API_ROOT)`)

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

    // The users: the spread sessions' (who also log in and out in the mixed scenario), the login
    // scenarios', and one for the single token and the logged-out one. Then the spread sessions.
    const tag = randomBytes(4).toString('hex')
    const email = (name: string) => `${name}-${tag}@${EMAIL_DOMAIN}`
    const setupStarted = Date.now()
    const users = await insertUsers([
      ...Array.from({ length: SESSION_USERS }, (_, i) => email(`user${i}`)),
      ...Array.from({ length: LOGIN_USERS }, (_, i) => email(`login${i}`)),
      email('me'),
    ])
    const spreadUsers = users.slice(0, SESSION_USERS)
    const loginEmails = users.slice(SESSION_USERS, SESSION_USERS + LOGIN_USERS).map((u) => u.email)
    const usersSeconds = (Date.now() - setupStarted) / 1000
    const spreadTokens = await createSessions(apiServer.env, spreadUsers, SESSIONS)
    const sessionsSeconds = (Date.now() - setupStarted) / 1000 - usersSeconds
    console.log(`bench: ${users.length} users in ${usersSeconds.toFixed(1)} s, ${SESSIONS} sessions in ${sessionsSeconds.toFixed(1)} s`)
    const spread = rotation(spreadTokens)
    const meEmail = email('me')
    const token = (await api(apiServer, 'POST', '/sessions', { email: meEmail, password: PASSWORD })).token as string
    const loggedOut = (await api(apiServer, 'POST', '/sessions', { email: meEmail, password: PASSWORD })).token as string
    await api(apiServer, 'DELETE', '/sessions/current', undefined, loggedOut)

    // Warm-up: JIT, connection pools, the token cache.
    await Promise.all([spreadMe(baseline, spread, 2), spreadMe(apiServer, spread, 2)])
    await getMe(apiServer, token, 2)
    // A calm login: one connection, nothing else running; the storm's logins are compared with it.
    const calm = await logins(apiServer, loginEmails, 1, ROUND_SECONDS)

    // Side by side: one round of each, which goes first flipping from one round to the next.
    let flip = 0
    const sideBySide = async (rounds: { api: Round[]; baseline: Round[] }, apiRun: () => Load, baselineRun: () => Load) => {
      const sides = [['baseline', baseline, baselineRun], ['api', apiServer, apiRun]] as const
      for (const [side, server, run] of flip++ % 2 === 0 ? sides : [...sides].reverse()) rounds[side].push(await measured(server, run))
    }
    const runs = {
      spread: { api: [] as Round[], baseline: [] as Round[] },
      single: { api: [] as Round[], baseline: [] as Round[] },
      gone: { api: [] as Round[], baseline: [] as Round[] },
      storm: [] as Figures[],
      stormLogins: [] as Logins[],
      alone: [] as (Logins & { limit: number })[],
      mixed: [] as Awaited<ReturnType<typeof mixed>>[],
    }
    const rss: number[] = []
    for (let pass = 0; pass < PASSES; pass++) {
      // (1) GET /me over the spread tokens, the same rotating requests to the baseline; two rounds each.
      for (let round = 0; round < 2; round++) await sideBySide(runs.spread, () => spreadMe(apiServer, spread), () => spreadMe(baseline, spread))
      // (2) GET /me with one token, as before issue 17: one round each.
      await sideBySide(runs.single, () => getMe(apiServer, token), () => getMe(baseline, token))
      // (4) logins alone, against the limit bcrypt sets on this machine right now: cores / the time
      // of one compare, measured here just before (run before the storm, so that no login of another
      // scenario is still holding a bcrypt thread).
      const limit = cores / bcryptCompareSeconds()
      runs.alone.push({ ...await logins(apiServer, loginEmails, STORM_CONNECTIONS, ROUND_SECONDS * 2), limit })
      // (3) GET /me over the spread tokens while 10 connections log in, for twice a round.
      const [me, storm] = await Promise.all([spreadMe(apiServer, spread, ROUND_SECONDS * 2), logins(apiServer, loginEmails, STORM_CONNECTIONS, ROUND_SECONDS * 2)])
      runs.storm.push(figures(me))
      runs.stormLogins.push(storm)
      // Every login was answered or given up on; one given up on may still hold a bcrypt thread.
      await sleep(2000)
      // (5) mixed traffic, with logins and logouts at a steady pace.
      runs.mixed.push(await mixed(apiServer, spread, spreadUsers.map((u) => u.email), ROUND_SECONDS * 2))
      // (6) the logged-out token: every answer must be 401.
      await sideBySide(runs.gone, () => getMe(apiServer, loggedOut), () => getMe(baseline, token))
      rss.push(rssMb(apiServer))
    }

    const me = compared(runs.spread)
    const single = compared(runs.single)
    const gone = compared(runs.gone)
    const storm = summary(runs.storm)
    const calmP99 = calm.p99
    const perSecond = (rounds: Logins[], count: (l: Logins) => number) => median(rounds.map((l) => count(l) / l.seconds))
    const stormLogins = {
      createdPerSecond: perSecond(runs.stormLogins, (l) => l.created),
      refusedPerSecond: perSecond(runs.stormLogins, (l) => l.refused),
      p99: median(runs.stormLogins.map((l) => l.p99)),
      p99VsCalm: ratio(median(runs.stormLogins.map((l) => l.p99)), calmP99),
      timeouts: sum(runs.stormLogins.map((l) => l.timeouts)),
      rounds: runs.stormLogins,
    }
    const aloneLogins = perSecond(runs.alone, (l) => l.created)
    const loginLimit = median(runs.alone.map((l) => l.limit))
    const loginShare = ratio(median(runs.alone.map((l) => l.created / l.seconds / l.limit)), 1)
    const mixedLoginTimeouts = sum(runs.mixed.map((m) => m.kinds['POST /sessions']?.unexpected.timeout ?? 0))
    const loginTimeouts = sum([calm, ...runs.alone, ...runs.stormLogins].map((l) => l.timeouts)) + mixedLoginTimeouts
    // The mixed scenario's kinds, over all passes: answers, the median of the passes' p99, errors.
    const mixedKinds = Object.fromEntries([...new Set(runs.mixed.flatMap((m) => Object.keys(m.kinds)))].map((name) => {
      const passes = runs.mixed.map((m) => m.kinds[name]).filter((k) => k !== undefined)
      return [name, { count: sum(passes.map((k) => k.count)), p99: median(passes.map((k) => k.p99)), errors: sum(passes.map((k) => sum(Object.values(k.unexpected)))) }]
    }))
    const mixedErrors = sum(runs.mixed.map((m) => m.errors))
    const mixedRefused = sum(runs.mixed.map((m) => m.loginsRefused))

    // Anything but the expected answer makes the run worthless: say so rather than report it.
    const wrong: string[] = []
    const only = (label: string, rounds: Figures[], code: string) => {
      for (const r of rounds) {
        const other = Object.entries(r.statuses).filter(([c]) => c !== code)
        if (other.length > 0 || r.errors > 0) wrong.push(`${label}: ${JSON.stringify(r.statuses)}, ${r.errors} without an answer (${r.timeouts} timeouts)`)
      }
    }
    only('baseline', [...runs.spread.baseline, ...runs.single.baseline, ...runs.gone.baseline], '200')
    only('GET /me', [...runs.spread.api, ...runs.single.api, ...runs.storm], '200')
    only('GET /me after logout', runs.gone.api, '401')
    // The rule for logins: every one gets an answer, a token (201) or 503 with Retry-After.
    const loginRounds: [string, Logins[]][] = [['calm', [calm]], ['alone', runs.alone], ['during the storm', runs.stormLogins]]
    for (const [label, rounds] of loginRounds) {
      for (const l of rounds) {
        const problems = [
          ...(l.timeouts > 0 ? [`${l.timeouts} TIMEOUTS (no answer in ${TIMEOUT_MS / 1000} s)`] : []),
          ...(l.connectionErrors > 0 ? [`${l.connectionErrors} connection errors`] : []),
          ...Object.entries(l.wrong).map(([what, n]) => `${n} answered ${what}`),
        ]
        if (problems.length > 0) wrong.push(`POST /sessions ${label}: ${problems.join(', ')} (in the round ${l.created} answered 201 and ${l.refused} 503 with Retry-After, ${l.answeredAfter} validly after it)`)
      }
    }
    for (const m of runs.mixed) {
      if (m.errors > 0) wrong.push(`mixed: ${m.errors} errors (${m.noAnswer} without an answer); ${JSON.stringify(Object.fromEntries(Object.entries(m.kinds).map(([n, k]) => [n, k.unexpected])))}`)
    }

    const results = {
      date: new Date().toISOString(),
      machine: machine(),
      settings: {
        api: { root: API_ROOT, commit: commitOf(API_ROOT), fromEnv: process.env.BENCH_API_ROOT !== undefined },
        apiEnv: API_ENV,
        roundSeconds: ROUND_SECONDS,
        passes: PASSES,
        sessions: SESSIONS,
        sessionUsers: SESSION_USERS,
        meConnections: ME_CONNECTIONS,
        stormConnections: STORM_CONNECTIONS,
        loginUsers: LOGIN_USERS,
        mixed: { listEvery: MIXED_LIST_EVERY, loginEveryMs: MIXED_LOGIN_EVERY_MS },
        bcryptCost: BCRYPT_COST,
      },
      setup: { usersSeconds, sessionsSeconds },
      bcrypt: { compareSecondsAtStart: compareSeconds, loginLimitPerSecond: loginLimit },
      scenarios: {
        me,
        meSingleToken: single,
        meDuringStorm: { ...storm, p99VsNoStorm: ratio(storm.p99, me.p99), rpsRatio: ratio(storm.rps, me.baseline.rps) },
        stormLogins,
        loginsCalm: { p99: calmP99, perSecond: calm.created / calm.seconds, round: calm },
        loginsAlone: {
          perSecond: aloneLogins,
          refusedPerSecond: perSecond(runs.alone, (l) => l.refused),
          p99: median(runs.alone.map((l) => l.p99)),
          shareOfLimit: loginShare,
          timeouts: sum(runs.alone.map((l) => l.timeouts)),
          runs: runs.alone,
        },
        mixed: { kinds: mixedKinds, errors: mixedErrors, loginsRefused: mixedRefused, passes: runs.mixed },
        meAfterLogout: gone,
      },
      loginTimeouts,
      memory: { rssMbAtStart: Math.round(rssAtStart * 10) / 10, rssMbAfterEachPass: rss.map((mb) => Math.round(mb * 10) / 10), growth: ratio(rss.at(-1)!, rss[0]!) },
      targets: {} as Record<string, { value: number; target: string; met: boolean }>,
      invalid: wrong,
      seconds: 0,
    }
    const t = results.targets
    t.meRps = { value: me.rpsRatio, target: `>= ${TARGETS.meRps}x baseline req/s (spread tokens)`, met: me.rpsRatio >= TARGETS.meRps }
    t.meP99 = { value: me.p99Ratio, target: `<= ${TARGETS.meP99}x baseline p99 (spread tokens)`, met: me.p99Ratio <= TARGETS.meP99 }
    t.stormP99 = { value: results.scenarios.meDuringStorm.p99VsNoStorm, target: `<= ${TARGETS.stormP99}x /me p99 without the storm`, met: results.scenarios.meDuringStorm.p99VsNoStorm <= TARGETS.stormP99 }
    t.loginTimeouts = { value: loginTimeouts, target: `${TARGETS.loginTimeouts} logins without an answer in ${TIMEOUT_MS / 1000} s`, met: loginTimeouts <= TARGETS.loginTimeouts }
    t.loginShare = { value: loginShare, target: `>= ${TARGETS.loginShare} of cores / one compare`, met: loginShare >= TARGETS.loginShare }
    t.rss = { value: Math.round(Math.max(...rss) * 10) / 10, target: `< ${TARGETS.rssMb} MB after the whole run`, met: Math.max(...rss) < TARGETS.rssMb }
    t.rssGrowth = { value: results.memory.growth, target: '<= 1.05x from the first pass to the last', met: results.memory.growth <= 1.05 }
    results.seconds = Math.round((Date.now() - began) / 1000)

    const ms = (n: number) => n.toFixed(2)
    const µs = (n: number) => n.toFixed(1)
    // The API's row, then its baseline's (the ratios are to that one).
    const sideRows = (label: string, baseLabel: string, c: typeof me) => [
      row([label, Math.round(c.rps), ms(c.p50), ms(c.p99), c.rpsRatio, c.p99Ratio, µs(c.cpuMicrosPerRequest), c.cpuRatio]),
      row([baseLabel, Math.round(c.baseline.rps), ms(c.baseline.p50), ms(c.baseline.p99), '1', '1', µs(c.baseline.cpuMicrosPerRequest), '1']),
    ]
    console.log()
    console.log(row(['scenario', 'req/s', 'p50 ms', 'p99 ms', 'req/s ratio', 'p99 ratio', 'CPU µs/req', 'CPU ratio']))
    console.log(sideRows(`1. GET /me, ${SESSIONS} tokens`, '   baseline, same requests', me).join('\n'))
    console.log(sideRows('2. GET /me, one token', '   baseline', single).join('\n'))
    console.log(row(['3. GET /me during a login storm', Math.round(storm.rps), ms(storm.p50), ms(storm.p99), results.scenarios.meDuringStorm.rpsRatio, `${t.stormP99.value} of (1)`]))
    console.log(sideRows('6. GET /me after logout (401)', '   baseline', gone).join('\n'))
    const alone = results.scenarios.loginsAlone
    console.log()
    console.log(row(['logins (POST /sessions)', '201/s', '503/s', 'p99 ms', 'p99 vs calm', 'timeouts', 'after round', 'of limit']))
    console.log(row(['   calm: 1 conn, nothing else', (calm.created / calm.seconds).toFixed(2), (calm.refused / calm.seconds).toFixed(2), ms(calmP99), '1', calm.timeouts, calm.answeredAfter]))
    console.log(row(['3. the storm: 10 conns + GET /me', stormLogins.createdPerSecond.toFixed(2), stormLogins.refusedPerSecond.toFixed(2), ms(stormLogins.p99), stormLogins.p99VsCalm, stormLogins.timeouts, sum(runs.stormLogins.map((l) => l.answeredAfter))]))
    console.log(row(['4. alone: 10 conns', aloneLogins.toFixed(2), alone.refusedPerSecond.toFixed(2), ms(alone.p99), ratio(alone.p99, calmP99), alone.timeouts, sum(runs.alone.map((l) => l.answeredAfter)), loginShare]))
    console.log(`\n5. mixed, ${ME_CONNECTIONS} conns (1 in ${MIXED_LIST_EVERY} GET /sessions) + a login, GET /me, logout every ${MIXED_LOGIN_EVERY_MS} ms: ${mixedErrors} errors, ${mixedRefused} logins answered 503 with Retry-After`)
    console.log(row(['   request', 'answers', 'p99 ms', 'errors']))
    for (const [name, k] of Object.entries(mixedKinds)) console.log(row([`   ${name}`, k.count, ms(k.p99), k.errors]))
    console.log()
    console.log(`login limit: ${cores} cores / one compare = ${loginLimit.toFixed(2)} logins/s (median of the passes); logins timed out: ${loginTimeouts}`)
    console.log(`API RSS at start ${results.memory.rssMbAtStart} MB, after each pass: ${results.memory.rssMbAfterEachPass.join(', ')} MB`)
    for (const [name, target] of Object.entries(t)) console.log(`target ${name.padEnd(13)} ${String(target.value).padEnd(8)} ${target.target.padEnd(48)} ${mark(target.met)}`)
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
