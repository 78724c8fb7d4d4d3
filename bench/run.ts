import { randomBytes } from 'node:crypto'
import { availableParallelism, cpus } from 'node:os'
import { Redis } from 'ioredis'
import {
  api, API_ROOT, BCRYPT_COST, cleanUp, EMAIL_DOMAIN, PASSWORD, PREFIX, REDIS_URL, resultsFile, rssMb, type Server, start, startApi,
} from './harness.js'
import { createSessions, insertUsers } from './live-sessions.js'
import { printReport, resultsOf } from './report.js'
import { bcryptCompareSeconds, LOGIN_USERS, runScenarios, SESSION_USERS, SESSIONS, type Traffic } from './scenarios.js'

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
 *
 * This file starts the servers and makes the users and sessions; the scenarios are in
 * bench/scenarios.ts, the results and the printed report in bench/report.ts.
 */

/**
 * The users: the spread sessions' (who also log in and out in the mixed scenario), the login
 * scenarios', and one for the single token and the logged-out one. Then the spread sessions.
 */
async function makeTraffic (apiServer: Server & { env: Record<string, string> }) {
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
  const meEmail = email('me')
  const token = (await api(apiServer, 'POST', '/sessions', { email: meEmail, password: PASSWORD })).token as string
  const loggedOut = (await api(apiServer, 'POST', '/sessions', { email: meEmail, password: PASSWORD })).token as string
  await api(apiServer, 'DELETE', '/sessions/current', undefined, loggedOut)
  const traffic: Traffic = { spreadTokens, spreadEmails: spreadUsers.map((u) => u.email), loginEmails, token, loggedOut }
  return { traffic, usersSeconds, sessionsSeconds }
}

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
    const { traffic, usersSeconds, sessionsSeconds } = await makeTraffic(apiServer)

    const scenarios = await runScenarios(apiServer, baseline, traffic, cores)
    const results = resultsOf({ began, compareSeconds, usersSeconds, sessionsSeconds, rssAtStart }, scenarios)
    printReport(results)
    const file = resultsFile('bench', results)
    console.log(`\nresults: ${file} (${results.seconds} s)`)
    if (results.invalid.length > 0) process.exitCode = 1
  } finally {
    await cleanUp(redis)
  }
}

main().catch((err: unknown) => {
  console.error('bench failed:', err)
  process.exitCode = 1
  return cleanUp(undefined)
})
