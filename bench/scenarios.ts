import bcrypt from 'bcryptjs'
import {
  BCRYPT_COST, cpuMicros, figures, type Figures, getMe, load, type Load, ME_CONNECTIONS, median, PASSWORD, percentile, ROUND_SECONDS, rssMb, type Server, sleep,
} from './harness.js'

/**
 * The scenarios of `npm run bench` (bench/run.ts), numbered as the report prints them: (1) GET /me
 * over the spread tokens, (2) with one token, (3) during a login storm, (4) logins alone, (5) mixed
 * traffic, (6) a logged-out token. The API's GET /me rounds alternate with the baseline's.
 */

/** Passes over all the scenarios; the RSS is compared between them (BENCH_PASSES to check for a plateau). */
export const PASSES = Number(process.env.BENCH_PASSES ?? 2)
export const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000)
export const SESSION_USERS = Number(process.env.BENCH_SESSION_USERS ?? 1000)
export const STORM_CONNECTIONS = 10
/** Users the login scenarios log in as: their sessions pile up to the cap, away from the spread ones. */
export const LOGIN_USERS = 10
/** In the mixed scenario: one request in this many is GET /sessions, and a login starts this often. */
export const MIXED_LIST_EVERY = 20
export const MIXED_LOGIN_EVERY_MS = 500
/** As autocannon's default: a request with no answer after this long is a timeout. */
export const TIMEOUT_MS = 10_000

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
export interface Logins {
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
export function bcryptCompareSeconds (): number {
  const hash = bcrypt.hashSync(PASSWORD, BCRYPT_COST)
  const times = [0, 1, 2].map(() => {
    const started = process.hrtime.bigint()
    bcrypt.compareSync(PASSWORD, hash)
    return Number(process.hrtime.bigint() - started) / 1e9
  })
  return median(times)
}

/** A GET /me round's figures, with the CPU time the server used per answer in it (µs). */
export type Round = Figures & { cpuMicrosPerRequest: number }

async function measured (server: Server, run: () => Load): Promise<Round> {
  const before = cpuMicros(server)
  const result = figures(await run())
  return { ...result, cpuMicrosPerRequest: (cpuMicros(server) - before) / Math.max(1, result.requests) }
}

/** A pass of the mixed scenario. */
export type Mixed = Awaited<ReturnType<typeof mixed>>

/** The sessions and users the scenarios play with (bench/run.ts makes them). */
export interface Traffic {
  /** The spread sessions' tokens, and their users' emails (who also log in and out in the mixed scenario). */
  spreadTokens: string[]
  spreadEmails: string[]
  /** The login scenarios' users. */
  loginEmails: string[]
  /** One live token, for the single-token scenario, and one logged out. */
  token: string
  loggedOut: string
}

/** Each scenario's rounds over all the passes. */
export interface Runs {
  spread: { api: Round[]; baseline: Round[] }
  single: { api: Round[]; baseline: Round[] }
  gone: { api: Round[]; baseline: Round[] }
  storm: Figures[]
  stormLogins: Logins[]
  alone: (Logins & { limit: number })[]
  mixed: Mixed[]
}

/**
 * A warm-up, the calm login round, then PASSES passes over the scenarios. Answers the calm round,
 * every pass' rounds, and the API's RSS after each pass.
 */
export async function runScenarios (apiServer: Server, baseline: Server, traffic: Traffic, cores: number): Promise<{ calm: Logins; runs: Runs; rss: number[] }> {
  const { token, loggedOut, loginEmails } = traffic
  const spread = rotation(traffic.spreadTokens)
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
  const runs: Runs = {
    spread: { api: [], baseline: [] },
    single: { api: [], baseline: [] },
    gone: { api: [], baseline: [] },
    storm: [],
    stormLogins: [],
    alone: [],
    mixed: [],
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
    runs.mixed.push(await mixed(apiServer, spread, traffic.spreadEmails, ROUND_SECONDS * 2))
    // (6) the logged-out token: every answer must be 401.
    await sideBySide(runs.gone, () => getMe(apiServer, loggedOut), () => getMe(baseline, token))
    rss.push(rssMb(apiServer))
  }
  return { calm, runs, rss }
}
