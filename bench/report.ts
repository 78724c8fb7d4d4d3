import { execFileSync } from 'node:child_process'
import { API_ENV, API_ROOT, BCRYPT_COST, type Figures, machine, ME_CONNECTIONS, median, ratio, ROUND_SECONDS, row, summary } from './harness.js'
import {
  LOGIN_USERS, type Logins, MIXED_LIST_EVERY, MIXED_LOGIN_EVERY_MS, PASSES, type Round, type Runs, SESSION_USERS, SESSIONS, STORM_CONNECTIONS, TIMEOUT_MS,
} from './scenarios.js'

/**
 * What `npm run bench` reports: the results of its scenarios (bench/scenarios.ts) as
 * bench/results/bench-<date>.json holds them, ratios and targets included, and the tables it prints.
 */

/** The targets of issues 6 and 17, as ratios measured in this run. */
const TARGETS = { meRps: 0.8, meP99: 1.5, stormP99: 2, loginTimeouts: 0, loginShare: 0.8, rssMb: 150 }

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

/** Anything but the expected answer makes the run worthless: each one found, said in a line. */
function unexpectedAnswers (calm: Logins, runs: Runs): string[] {
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
  return wrong
}

/** What a run measured, besides its scenarios' rounds (bench/run.ts). */
export interface Measured {
  /** Date.now() when the run began. */
  began: number
  /** One bcryptjs compare before anything else ran, in seconds. */
  compareSeconds: number
  usersSeconds: number
  sessionsSeconds: number
  /** The API's resident memory once listening, before any request. */
  rssAtStart: number
}

/** A run's results, as bench/results/bench-<date>.json holds them. */
export type Results = ReturnType<typeof resultsOf>

export function resultsOf ({ began, compareSeconds, usersSeconds, sessionsSeconds, rssAtStart }: Measured, { calm, runs, rss }: { calm: Logins; runs: Runs; rss: number[] }) {
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
    invalid: unexpectedAnswers(calm, runs),
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
  return results
}

/** The tables and target lines, printed from the results alone (so they say what the file holds). */
export function printReport (results: Results): void {
  const { settings, scenarios, targets: t, memory, invalid: wrong } = results
  const { me, meSingleToken: single, meDuringStorm: storm, stormLogins, loginsCalm, loginsAlone: alone, mixed, meAfterLogout: gone } = scenarios
  const calm = loginsCalm.round
  const calmP99 = loginsCalm.p99
  const ms = (n: number) => n.toFixed(2)
  const µs = (n: number) => n.toFixed(1)
  // The API's row, then its baseline's (the ratios are to that one).
  const sideRows = (label: string, baseLabel: string, c: typeof me) => [
    row([label, Math.round(c.rps), ms(c.p50), ms(c.p99), c.rpsRatio, c.p99Ratio, µs(c.cpuMicrosPerRequest), c.cpuRatio]),
    row([baseLabel, Math.round(c.baseline.rps), ms(c.baseline.p50), ms(c.baseline.p99), '1', '1', µs(c.baseline.cpuMicrosPerRequest), '1']),
  ]
  console.log()
  console.log(row(['scenario', 'req/s', 'p50 ms', 'p99 ms', 'req/s ratio', 'p99 ratio', 'CPU µs/req', 'CPU ratio']))
  console.log(sideRows(`1. GET /me, ${settings.sessions} tokens`, '   baseline, same requests', me).join('\n'))
  console.log(sideRows('2. GET /me, one token', '   baseline', single).join('\n'))
  console.log(row(['3. GET /me during a login storm', Math.round(storm.rps), ms(storm.p50), ms(storm.p99), storm.rpsRatio, `${storm.p99VsNoStorm} of (1)`]))
  console.log(sideRows('6. GET /me after logout (401)', '   baseline', gone).join('\n'))
  console.log()
  console.log(row(['logins (POST /sessions)', '201/s', '503/s', 'p99 ms', 'p99 vs calm', 'timeouts', 'after round', 'of limit']))
  console.log(row(['   calm: 1 conn, nothing else', (calm.created / calm.seconds).toFixed(2), (calm.refused / calm.seconds).toFixed(2), ms(calmP99), '1', calm.timeouts, calm.answeredAfter]))
  console.log(row(['3. the storm: 10 conns + GET /me', stormLogins.createdPerSecond.toFixed(2), stormLogins.refusedPerSecond.toFixed(2), ms(stormLogins.p99), stormLogins.p99VsCalm, stormLogins.timeouts, sum(stormLogins.rounds.map((l) => l.answeredAfter))]))
  console.log(row(['4. alone: 10 conns', alone.perSecond.toFixed(2), alone.refusedPerSecond.toFixed(2), ms(alone.p99), ratio(alone.p99, calmP99), alone.timeouts, sum(alone.runs.map((l) => l.answeredAfter)), alone.shareOfLimit]))
  console.log(`\n5. mixed, ${settings.meConnections} conns (1 in ${settings.mixed.listEvery} GET /sessions) + a login, GET /me, logout every ${settings.mixed.loginEveryMs} ms: ${mixed.errors} errors, ${mixed.loginsRefused} logins answered 503 with Retry-After`)
  console.log(row(['   request', 'answers', 'p99 ms', 'errors']))
  for (const [name, k] of Object.entries(mixed.kinds)) console.log(row([`   ${name}`, k.count, ms(k.p99), k.errors]))
  console.log()
  console.log(`login limit: ${results.machine.cores} cores / one compare = ${results.bcrypt.loginLimitPerSecond.toFixed(2)} logins/s (median of the passes); logins timed out: ${results.loginTimeouts}`)
  console.log(`API RSS at start ${memory.rssMbAtStart} MB, after each pass: ${memory.rssMbAfterEachPass.join(', ')} MB`)
  for (const [name, target] of Object.entries(t)) console.log(`target ${name.padEnd(13)} ${String(target.value).padEnd(8)} ${target.target.padEnd(48)} ${mark(target.met)}`)
  if (wrong.length > 0) console.log(`\nINVALID RUN, unexpected answers:\n${wrong.join('\n')}`)
}
