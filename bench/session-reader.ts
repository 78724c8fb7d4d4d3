import { createSessionReader } from '@gatehouse/session-reader'
import { api, machine, median, PASSWORD, EMAIL_DOMAIN, PREFIX, ratio, resultsFile, row, runOnPrivateRedis, startApi } from './harness.js'

/**
 * `npm run bench:reader`: what one `read()` of @gatehouse/session-reader costs against the least
 * any reader must do, a bare `HGETALL` of the session hash, in one run on a redis-server of the
 * bench's own. read() verifies the token (HMAC-SHA256), runs one EVALSHA_RO (the hash, the
 * user's cutoff, TIME, PTTL) and applies the contract's rule; the TTL in force is cached for a
 * second. The two alternate in rounds (ROUNDS of ROUND_MS each, at 1 and at 50 in flight), so
 * the machine's noise falls on both; the figure that matters is the ratio.
 */
const ROUNDS = Number(process.env.BENCH_READER_ROUNDS ?? 5)
const ROUND_MS = Number(process.env.BENCH_READER_ROUND_MS ?? 2000)

/** Operations per second of `op`, run `inFlight` at a time for ROUND_MS. */
async function rate (op: () => Promise<unknown>, inFlight: number): Promise<number> {
  let done = 0
  const end = Date.now() + ROUND_MS
  const started = process.hrtime.bigint()
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (Date.now() < end) {
      await op()
      done++
    }
  }))
  return done / (Number(process.hrtime.bigint() - started) / 1e9)
}

runOnPrivateRedis('bench:reader', async (redis, redisUrl) => {
  const server = await startApi(redisUrl, { LOG_LEVEL: 'warn' })
  const email = `reader@${EMAIL_DOMAIN}`
  await api(server, 'POST', '/users', { email, password: PASSWORD })
  const { token } = await api(server, 'POST', '/sessions', { email, password: PASSWORD }) as { token: string }
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'))
  const key = `${PREFIX}sess:{${claims.user_id}}:${claims.jti}`

  const reader = createSessionReader({ redis, keyPrefix: PREFIX, keys: { secrets: [server.env.JWT_SECRET!] } })
  const check = await reader.read(token)
  if (!check.live) throw new Error(`the bench's session is not live: ${check.reason}`)
  if (Object.keys(await redis.hgetall(key)).length === 0) throw new Error('the session hash is empty')

  const modes = {
    hgetall: () => redis.hgetall(key),
    read: async () => {
      const result = await reader.read(token)
      if (!result.live) throw new Error(`read() said ${result.reason}`)
    },
  }
  const results: Record<string, { hgetall: number[], read: number[], ratios: number[] }> = {}
  for (const inFlight of [1, 50]) {
    const figures = { hgetall: [] as number[], read: [] as number[], ratios: [] as number[] }
    await rate(modes.read, inFlight) // warm-up: the script is loaded, the JIT has run
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first, so an order effect falls on both.
      const order = round % 2 === 0 ? (['hgetall', 'read'] as const) : (['read', 'hgetall'] as const)
      const pair: Record<string, number> = {}
      for (const mode of order) pair[mode] = await rate(modes[mode], inFlight)
      figures.hgetall.push(Math.round(pair.hgetall!))
      figures.read.push(Math.round(pair.read!))
      figures.ratios.push(ratio(pair.hgetall!, pair.read!))
    }
    results[`in_flight_${inFlight}`] = figures
  }

  console.log(row(['', 'HGETALL/s', 'read()/s', 'cost of read() (x HGETALL)']))
  for (const [name, f] of Object.entries(results)) console.log(row([name, median(f.hgetall), median(f.read), median(f.ratios)]))
  const file = resultsFile('session-reader', { date: new Date().toISOString(), machine: machine(), rounds: ROUNDS, roundMs: ROUND_MS, results } as { date: string })
  console.log(`\nresults: ${file}`)
})
