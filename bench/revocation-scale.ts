import type { Redis } from 'ioredis'
import pg from 'pg'
import { api, DATABASE_URL, EMAIL_DOMAIN, machine, PASSWORD, PREFIX, ratio, resultsFile, row, type Server, sleep, startApi, runOnPrivateRedis } from './harness.js'

/**
 * `npm run bench:revocation`: one user holds 100,000 sessions (BENCH_SESSIONS). While another
 * user keeps calling GET /me, the heavy user's sessions are listed page by page, all of them, and
 * then ended by an admin's DELETE /admin/users/:id/sessions. Redis' SLOWLOG (on a redis-server of
 * the benchmark's own, logging every command) gives the longest command Gatehouse sent in each
 * phase; the other user's latency is compared with a calm phase of the same length before.
 */
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 100_000)
const BYSTANDER_CONNECTIONS = 10
const CALM_SECONDS = 5

// The heavy user's sessions, written as create-session-n.lua writes a login's (layout 3, with the
// hash field `generation`), 10,000 per call: 100,000 round trips would take minutes.
const FILL = `
local prefix, user, from, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_s = string.format('%.0f', now)
local max_s = string.format('%.0f', now + 2592000000)
local index = prefix .. 'user:{' .. user .. '}:sessions'
for i = from, from + n - 1 do
  local id = string.format('bench%017d', i)
  local key = prefix .. 'sess:{' .. user .. '}:' .. id
  -- Spread over the last 20 minutes of use, as real sessions would be.
  local expires = string.format('%.0f', now + 1200000 - (i % 1200000))
  redis.call('HSET', key, 'v', '3', 'user_id', user, 'role', 'user', 'created_at', now_s, 'last_seen_at', now_s,
    'max_expires_at', max_s, 'client', 'ios', 'user_agent', 'Gatehouse/1.0 (iPhone; iOS 18.1)', 'ip', '10.0.0.1',
    'email', 'heavy@example.com', 'user_created_at', now_s, 'generation', '0')
  redis.call('PEXPIREAT', key, expires)
  redis.call('SET', prefix .. 'owner:{' .. user .. '}:' .. id, user, 'PX', 2595600000)
  redis.call('ZADD', index, expires, id)
end
redis.call('PEXPIRE', index, 1200000)
return n
`

interface Phase {
  name: string
  seconds: number
  /** The other user's GET /me: requests, and latency percentiles in ms. */
  bystander: { requests: number; failures: number; p50: number; p99: number; max: number }
  /**
   * Gatehouse's scripts in the phase (SLOWLOG logs every command: EVALSHA, µs): how many, their
   * p50 and p99, the longest, and how many took over 5 ms.
   */
  scripts: number
  p50Micros: number
  p99Micros: number
  longestMicros: number
  longest: string
  over5ms: number
  /**
   * The longest plain command of constant work in the same phase (XADD, ZCARD, GET):
   * what this machine's scheduling adds to any command while it is loaded. 0 when none ran.
   */
  floorMicros: number
  /** The same figures for each script (by SHA and number of keys), the busiest first. */
  byScript: { script: string; calls: number; p50Micros: number; p99Micros: number; longestMicros: number }[]
}

const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0

/** Calls GET /me as the bystander from BYSTANDER_CONNECTIONS loops until `stop` resolves. */
async function bystanderDuring (server: Server, token: string, work: () => Promise<void>) {
  const latencies: number[] = []
  let failures = 0
  let running = true
  const loops = Array.from({ length: BYSTANDER_CONNECTIONS }, async () => {
    while (running) {
      const started = performance.now()
      try {
        const res = await fetch(`${server.url}/me`, { headers: { authorization: `Token token=${token}` } })
        await res.arrayBuffer()
        if (res.status !== 200) failures++
      } catch {
        failures++
      }
      latencies.push(performance.now() - started)
    }
  })
  const began = performance.now()
  try {
    await work()
  } finally {
    running = false
    await Promise.all(loops)
  }
  latencies.sort((a, b) => a - b)
  const at = (q: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 100) / 100
  return { seconds: (performance.now() - began) / 1000, bystander: { requests: latencies.length, failures, p50: at(0.5), p99: at(0.99), max: at(1) } }
}

async function phase (redis: Redis, server: Server, token: string, name: string, work: () => Promise<void>): Promise<Phase> {
  await redis.slowlog('RESET')
  const { seconds, bystander } = await bystanderDuring(server, token, work)
  const entries = ((await redis.slowlog('GET', 2_000_000)) as [number, number, number, string[]][]).filter(([, , , args]) => !/^slowlog$/i.test(args[0] ?? ''))
  const longest = entries.reduce((a, b) => (b[2] > a[2] ? b : a), [0, 0, 0, ['-']] as [number, number, number, string[]])
  // A script is named by its SHA and its number of keys (a page of 100 sessions declares 102).
  const describe = (args: string[]) => (/^evalsha$/i.test(args[0] ?? '') ? `EVALSHA ${args[1]?.slice(0, 8)} (${args[2]} keys)` : args.slice(0, 2).join(' ').slice(0, 60))
  const scripts = entries.filter(([, , , args]) => /^eval/i.test(args[0] ?? ''))
  const micros = scripts.map((e) => e[2]).sort((a, b) => a - b)
  const at = (q: number) => percentile(micros, q)
  const groups = new Map<string, number[]>()
  for (const [, , us, args] of scripts) {
    const name = describe(args)
    const seen = groups.get(name)
    if (seen) seen.push(us)
    else groups.set(name, [us])
  }
  const plain = entries.filter(([, , , args]) => /^(xadd|zcard|get)$/i.test(args[0] ?? ''))
  return {
    name,
    seconds: Math.round(seconds * 10) / 10,
    bystander,
    scripts: scripts.length,
    p50Micros: at(0.5),
    p99Micros: at(0.99),
    longestMicros: at(1),
    longest: describe(longest[3]),
    over5ms: micros.filter((m) => m > 5000).length,
    floorMicros: plain.reduce((most, e) => Math.max(most, e[2]), 0),
    byScript: [...groups].map(([script, us]) => {
      us.sort((a, b) => a - b)
      return { script, calls: us.length, p50Micros: percentile(us, 0.5), p99Micros: percentile(us, 0.99), longestMicros: us.at(-1) ?? 0 }
    }).sort((a, b) => b.calls - a.calls),
  }
}

runOnPrivateRedis('bench:revocation', async (redis, redisUrl) => {
  const began = Date.now()
  const server = await startApi(redisUrl, { SESSION_MAX_PER_USER: '0', EVENTS_MAX_LENGTH: '1000' })
  const emails = ['heavy', 'admin', 'bystander'].map((who) => `${who}-${process.pid}@${EMAIL_DOMAIN}`)
  const [heavy, admin] = await Promise.all(emails.map(async (email) => (await api(server, 'POST', '/users', { email, password: PASSWORD })).user as { id: string }))
  const db = new pg.Client({ connectionString: DATABASE_URL })
  await db.connect()
  await db.query('UPDATE users SET role = \'admin\' WHERE id = $1', [admin!.id])
  await db.end()
  const [heavyToken, adminToken, bystanderToken] = await Promise.all(emails.map(async (email) => (await api(server, 'POST', '/sessions', { email, password: PASSWORD })).token as string))

  const fillStarted = Date.now()
  for (let from = 1; from < SESSIONS; from += 10_000) await redis.eval(FILL, 0, PREFIX, heavy!.id, from, Math.min(10_000, SESSIONS - from))
  console.log(`${SESSIONS} sessions for one user in ${((Date.now() - fillStarted) / 1000).toFixed(1)} s`)
  await redis.config('SET', 'slowlog-log-slower-than', '0')
  await redis.config('SET', 'slowlog-max-len', '2000000')

  const phases: Phase[] = []
  phases.push(await phase(redis, server, bystanderToken!, 'calm', async () => { await sleep(CALM_SECONDS * 1000) }))
  let pages = 0
  let listed = 0
  phases.push(await phase(redis, server, bystanderToken!, 'listing every page of GET /sessions', async () => {
    let cursor: string | null = null
    do {
      const page = await api(server, 'GET', `/sessions${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`, undefined, heavyToken) as { sessions: unknown[]; next_cursor: string | null }
      pages++
      listed += page.sessions.length
      cursor = page.next_cursor
    } while (cursor)
  }))
  let revoked = 0
  phases.push(await phase(redis, server, bystanderToken!, 'DELETE /admin/users/:id/sessions', async () => {
    revoked = (await api(server, 'DELETE', `/admin/users/${heavy!.id}/sessions`, undefined, adminToken)).revoked as number
  }))
  if (revoked !== SESSIONS) throw new Error(`revoked ${revoked}, expected ${SESSIONS}`)
  if (listed !== SESSIONS) throw new Error(`listed ${listed}, expected ${SESSIONS}`)

  const calm = phases[0]!
  console.log()
  console.log(row(['phase', 'seconds', 'scripts', 'p50 µs', 'p99 µs', 'longest µs', '> 5 ms', 'floor µs', 'me p99 ms', 'p99 vs calm', 'me failed']))
  for (const p of phases) console.log(row([p.name, p.seconds, p.scripts, p.p50Micros, p.p99Micros, p.longestMicros, p.over5ms, p.floorMicros, p.bystander.p99, ratio(p.bystander.p99, calm.bystander.p99), p.bystander.failures]))
  for (const p of phases) {
    console.log(`\n${p.name}: the longest command of all was ${p.longest}`)
    for (const g of p.byScript.slice(0, 3)) console.log(`  ${g.script.padEnd(32)} ${String(g.calls).padStart(7)} calls   p50 ${g.p50Micros} µs   p99 ${g.p99Micros} µs   longest ${g.longestMicros} µs`)
  }
  const results = {
    date: new Date().toISOString(),
    machine: machine(),
    settings: { sessions: SESSIONS, bystanderConnections: BYSTANDER_CONNECTIONS },
    listing: { pages, sessions: listed },
    revoked,
    phases: phases.map((p) => ({ ...p, p99VsCalm: ratio(p.bystander.p99, calm.bystander.p99) })),
    seconds: Math.round((Date.now() - began) / 1000),
  }
  console.log(`\nresults: ${resultsFile('revocation-scale', results)} (${results.seconds} s)`)
  if (phases.some((p) => p.bystander.failures > 0)) process.exitCode = 1
})
