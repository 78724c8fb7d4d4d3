import type { JsonWebKey } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSessionReader } from '@gatehouse/session-reader'
import { api, machine, median, PASSWORD, EMAIL_DOMAIN, PREFIX, ratio, resultsFile, row, runOnPrivateRedis, startApi } from './harness.js'

/**
 * `npm run bench:reader`: what one `read()` of @gatehouse/session-reader costs against the least
 * any reader must do, a bare `HGETALL` of the session hash, in one run on a redis-server of the
 * bench's own. read() verifies the token (Ed25519, with the public key from the JWKS), runs one
 * EVALSHA_RO (the hash, the user's cutoff, TIME, PTTL, and the TTL in force and untyped window
 * from `<prefix>config`, read with every session) and applies the contract's rule. The two
 * alternate in rounds (ROUNDS of ROUND_MS each, at 1 and at 50 in flight), so the machine's noise
 * falls on both; the figure that matters is the ratio.
 *
 * Then what sliding costs: a service whose only traffic is one user's requests, 50 in flight for
 * SLIDE_MS, with extendIfDue (the middleware's `extend: true`) against calling POST /introspect
 * on every request. The calls are counted by a proxy in front of Gatehouse.
 */
const ROUNDS = Number(process.env.BENCH_READER_ROUNDS ?? 5)
const ROUND_MS = Number(process.env.BENCH_READER_ROUND_MS ?? 2000)
const SLIDE_MS = Number(process.env.BENCH_READER_SLIDE_MS ?? 10_000)
/** A short TTL, so that the slide's interval (a tenth of it, 2 s) comes round several times in SLIDE_MS. */
const SLIDE_TTL_SECONDS = 20
const INTROSPECTION_CREDENTIAL = 'bench-reader-introspection-credential-0000000'

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
  const server = await startApi(redisUrl, { LOG_LEVEL: 'warn', INTROSPECTION_TOKENS: INTROSPECTION_CREDENTIAL })
  const email = `reader@${EMAIL_DOMAIN}`
  await api(server, 'POST', '/users', { email, password: PASSWORD })
  const { token } = await api(server, 'POST', '/sessions', { email, password: PASSWORD }) as { token: string }
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'))
  const key = `${PREFIX}sess:{${claims.user_id}}:${claims.jti}`

  // Only what a reader is given: the public keys Gatehouse publishes.
  const jwks = await api(server, 'GET', '/.well-known/jwks.json') as { keys: JsonWebKey[] }
  const reader = createSessionReader({ redis, keyPrefix: PREFIX, keys: { publicKeys: jwks.keys } })
  // The same without the verified-token cache: every read() verifies the Ed25519 signature.
  const uncached = createSessionReader({ redis, keyPrefix: PREFIX, keys: { publicKeys: jwks.keys, verifiedCacheSize: 0 } })
  const check = await reader.read(token)
  if (!check.live) throw new Error(`the bench's session is not live: ${check.reason}`)
  if (Object.keys(await redis.hgetall(key)).length === 0) throw new Error('the session hash is empty')

  const modes = {
    hgetall: () => redis.hgetall(key),
    read: async () => {
      const result = await reader.read(token)
      if (!result.live) throw new Error(`read() said ${result.reason}`)
    },
    uncached: async () => {
      const result = await uncached.read(token)
      if (!result.live) throw new Error(`read() said ${result.reason}`)
    },
  }
  type Figures = { hgetall: number[], read: number[], uncached: number[], ratios: number[], uncachedRatios: number[] }
  const results: Record<string, Figures> = {}
  for (const inFlight of [1, 50]) {
    const figures: Figures = { hgetall: [], read: [], uncached: [], ratios: [], uncachedRatios: [] }
    await rate(modes.read, inFlight) // warm-up: the script is loaded, the JIT has run
    await rate(modes.uncached, inFlight)
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate which goes first, so an order effect falls on all three.
      const all = ['hgetall', 'read', 'uncached'] as const
      const order = [...all.slice(round % 3), ...all.slice(0, round % 3)]
      const pair: Record<string, number> = {}
      for (const mode of order) pair[mode] = await rate(modes[mode], inFlight)
      figures.hgetall.push(Math.round(pair.hgetall!))
      figures.read.push(Math.round(pair.read!))
      figures.uncached.push(Math.round(pair.uncached!))
      figures.ratios.push(ratio(pair.hgetall!, pair.read!))
      figures.uncachedRatios.push(ratio(pair.hgetall!, pair.uncached!))
    }
    results[`in_flight_${inFlight}`] = figures
  }

  console.log(row(['', 'HGETALL/s', 'read()/s', 'read() x', 'no cache/s', 'no cache x']))
  for (const [name, f] of Object.entries(results)) console.log(row([name, median(f.hgetall), median(f.read), median(f.ratios), median(f.uncached), median(f.uncachedRatios)]))

  // Sliding: ops set a short TTL (Gatehouse follows within a second), a fresh session, and a proxy
  // in front of POST /introspect that counts what each way costs Gatehouse.
  await redis.hset(`${PREFIX}config`, 'session_ttl_seconds', String(SLIDE_TTL_SECONDS))
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const { token: slideToken } = await api(server, 'POST', '/sessions', { email, password: PASSWORD }) as { token: string }
  let introspections = 0
  const proxy = createServer((req, res) => {
    introspections++
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      fetch(`${server.url}/introspect`, { method: 'POST', headers: { authorization: req.headers.authorization!, 'content-type': 'application/json' }, body: Buffer.concat(chunks) })
        .then(async (answer) => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text()))
        .catch(() => res.writeHead(502).end())
    })
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const introspection = { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/introspect`, credential: INTROSPECTION_CREDENTIAL }
  const sliding = createSessionReader({ redis, keyPrefix: PREFIX, keys: { publicKeys: jwks.keys }, introspection })
  const slide: Record<string, { requests: number, introspections: number, perMinute: number }> = {}
  for (const [name, after] of [
    ['extendIfDue', (result: { session: Parameters<typeof sliding.extendIfDue>[1] }) => sliding.extendIfDue(slideToken, result.session)],
    ['extend every request', () => sliding.extend(slideToken)],
  ] as const) {
    introspections = 0
    let requests = 0
    const end = Date.now() + SLIDE_MS
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (Date.now() < end) {
        const result = await sliding.read(slideToken)
        if (!result.live) throw new Error(`read() said ${result.reason}`)
        if (!(await after(result))) throw new Error('Gatehouse said the session is not active')
        requests++
      }
    }))
    slide[name] = { requests, introspections, perMinute: Math.round(introspections / (SLIDE_MS / 60_000)) }
  }
  proxy.close()
  console.log(`\nsliding one session, 50 in flight for ${SLIDE_MS / 1000} s, TTL ${SLIDE_TTL_SECONDS} s:`)
  console.log(row(['', 'requests', 'introspections', 'per minute', 'per request']))
  for (const [name, f] of Object.entries(slide)) console.log(row([name, f.requests, f.introspections, f.perMinute, (f.introspections / f.requests).toPrecision(2)]))
  const file = resultsFile('session-reader', { date: new Date().toISOString(), machine: machine(), rounds: ROUNDS, roundMs: ROUND_MS, results, slide, slideMs: SLIDE_MS, slideTtlSeconds: SLIDE_TTL_SECONDS } as { date: string })
  console.log(`\nresults: ${file}`)
})
