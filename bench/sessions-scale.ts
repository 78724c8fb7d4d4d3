import {
  api, EMAIL_DOMAIN, figures, type Figures, getMe, machine, ME_CONNECTIONS, PASSWORD, PREFIX, ratio, resultsFile,
  ROUND_SECONDS, row, start, startApi, runOnPrivateRedis, summary,
} from './harness.js'

/**
 * `npm run bench:scale`: does GET /me cost more when Redis holds more sessions? A private
 * redis-server (so the shared one never holds a million keys) is filled with realistic sessions
 * (the hash, its index entry and owner key, as a login writes them) up to 1k, 100k and 1M, and at
 * each size GET /me and the one-PEXPIRE baseline run in alternating rounds. Also reports Redis'
 * memory per session, for capacity planning (docs/performance.md).
 */
const SIZES = (process.env.BENCH_SCALE_SIZES ?? '1000,100000,1000000').split(',').map(Number)
const ROUNDS = 2

// One batch of filler sessions, written by Redis itself (a million round trips would take minutes).
const FILL = `
local prefix, from, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_s = string.format('%.0f', now)
local expires = string.format('%.0f', now + 1200000)
local max = string.format('%.0f', now + 2592000000)
for i = from, from + n - 1 do
  local id = string.format('filler%016d', i)
  local user = string.format('00000000-0000-4000-8000-%012d', i)
  -- Layout 3's names (src/sessions/keys.ts): the user's id is the hash tag.
  local tag = '{' .. user .. '}:'
  local key = prefix .. 'sess:' .. tag .. id
  redis.call('HSET', key, 'v', '3', 'user_id', user, 'role', 'user', 'created_at', now_s, 'last_seen_at', now_s,
    'max_expires_at', max, 'client', 'ios', 'user_agent', 'Gatehouse/1.0 (iPhone; iOS 18.1)', 'ip', '10.0.0.1',
    'email', 'filler' .. i .. '@example.com', 'user_created_at', now_s)
  redis.call('PEXPIREAT', key, expires)
  redis.call('ZADD', prefix .. 'user:{' .. user .. '}:sessions', expires, id)
  redis.call('PEXPIREAT', prefix .. 'user:{' .. user .. '}:sessions', expires)
  redis.call('SET', prefix .. 'owner:' .. tag .. id, user, 'PXAT', string.format('%.0f', now + 2592000000 + 3600000))
end
return n
`

runOnPrivateRedis('bench:scale', async (redis, redisUrl) => {
  const began = Date.now()
  const baselineKey = `${PREFIX}baseline`
  await redis.hset(baselineKey, 'user_id', 'baseline')
  const apiServer = await startApi(redisUrl)
  const baseline = await start('baseline', ['dist-bench/bench/baseline.js'], { REDIS_URL: redisUrl, BENCH_KEY: baselineKey }, '/me')
  const email = `scale-${process.pid}@${EMAIL_DOMAIN}`
  await api(apiServer, 'POST', '/users', { email, password: PASSWORD })
  const token = (await api(apiServer, 'POST', '/sessions', { email, password: PASSWORD })).token as string
  await Promise.all([getMe(baseline, token, 2), getMe(apiServer, token, 2)])

  const sizes: { sessions: number; fillSeconds: number; redisMemoryMb: number; bytesPerSession: number; baseline: ReturnType<typeof summary>; me: ReturnType<typeof summary>; rpsRatio: number; p99Ratio: number }[] = []
  let filled = 1 // the benchmark's own session
  const memoryBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1])
  for (const size of SIZES) {
    const fillStarted = Date.now()
    while (filled < size) {
      const n = Math.min(10_000, size - filled)
      await redis.eval(FILL, 0, PREFIX, filled, n)
      filled += n
    }
    const fillSeconds = (Date.now() - fillStarted) / 1000
    const memory = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1])
    const rounds = { baseline: [] as Figures[], me: [] as Figures[] }
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['baseline', 'me'] as const : ['me', 'baseline'] as const
      for (const side of order) rounds[side].push(figures(await getMe(side === 'me' ? apiServer : baseline, token)))
    }
    const wrong = [...rounds.me, ...rounds.baseline].filter((r) => r.errors > 0 || Object.keys(r.statuses).some((code) => code !== '200'))
    if (wrong.length > 0) throw new Error(`unexpected answers at ${size} sessions: ${JSON.stringify(wrong.map((r) => r.statuses))}`)
    const b = summary(rounds.baseline)
    const m = summary(rounds.me)
    sizes.push({
      sessions: size,
      fillSeconds,
      redisMemoryMb: Math.round(memory / 2 ** 20),
      bytesPerSession: Math.round((memory - memoryBefore) / size),
      baseline: b,
      me: m,
      rpsRatio: ratio(m.rps, b.rps),
      p99Ratio: ratio(m.p99, b.p99),
    })
    console.log(`${size} sessions: filled in ${fillSeconds.toFixed(1)} s, Redis ${Math.round(memory / 2 ** 20)} MB`)
  }

  const first = sizes[0]!
  const results = {
    date: new Date().toISOString(),
    machine: machine(),
    settings: { roundSeconds: ROUND_SECONDS, rounds: ROUNDS, connections: ME_CONNECTIONS },
    sizes,
    seconds: Math.round((Date.now() - began) / 1000),
  }
  console.log()
  console.log(row(['sessions in Redis', 'me req/s', 'me p99 ms', 'req/s ratio', 'p99 ratio', 'ratio vs 1k', 'bytes/session']))
  for (const s of sizes) {
    console.log(row([s.sessions, Math.round(s.me.rps), s.me.p99.toFixed(2), s.rpsRatio, s.p99Ratio, ratio(s.rpsRatio, first.rpsRatio), s.bytesPerSession]))
  }
  console.log(`\nresults: ${resultsFile('sessions-scale', results)} (${results.seconds} s)`)
})
