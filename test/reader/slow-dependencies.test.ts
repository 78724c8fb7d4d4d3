import { generateKeyPairSync } from 'node:crypto'
import { createSessionReader, type ReaderRedis } from '@gatehouse/session-reader'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { newSession } from '../helpers/http.js'
import { sleep } from '../helpers/wait.js'
import { jwksServer, signedUnder } from './jwks-server.js'

// What the library must not wait for: a <prefix>config that stops answering (on a Cluster it lives
// on another node than the session), and a JWKS refresh that hangs while the keys at hand still do.

/** Does `work` settle within `ms`? A bound, not a performance figure: without the fix it never settles. */
const within = async <T>(ms: number, work: Promise<T>) => Promise.race([work.then(() => true, () => true), sleep(ms).then(() => false)])

t.test('a <prefix>config read that never answers holds up no read after the first', async (t) => {
  const signing = generateKeyPairSync('ed25519')
  const ctx = await buildTestApp(t, { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: signing.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() })
  const keys = { publicKeys: [signing.publicKey.export({ format: 'pem', type: 'spki' }).toString()] }
  const { token } = await newSession(ctx)
  let hang = false
  // The real Redis, with one command made to hang: the fault a silent Cluster node gives.
  const redis: ReaderRedis = { call: (command, ...args) => (hang && command === 'HGET' ? new Promise(() => {}) : ctx.redis.call(command, ...args)) }
  const reader = createSessionReader({ redis, keyPrefix: ctx.config.redisKeyPrefix, keys, timeoutMs: 500 })
  t.match(await reader.read(token), { live: true })
  hang = true
  await sleep(1100) // the TTL read a second ago is due again
  for (let i = 0; i < 5; i++) t.match(await reader.read(token), { live: true }, `read ${i}: the TTL at hand is used meanwhile`)
  const first = createSessionReader({ redis, keyPrefix: ctx.config.redisKeyPrefix, keys, timeoutMs: 500 })
  t.match(await first.read(token), { live: true }, 'a first read waits at most timeoutMs, then takes the default TTL')
})

t.test('a JWKS refresh that hangs does not hold up tokens whose key is at hand', async (t) => {
  const keys = generateKeyPairSync('ed25519')
  const jwk = { ...keys.publicKey.export({ format: 'jwk' }), kid: 'k1' }
  let stalled = false
  const server = await jwksServer(t, (res) => {
    if (stalled) return res.writeHead(200).write('{"keys": [')
    res.writeHead(200, { 'cache-control': 'max-age=0' }).end(JSON.stringify({ keys: [jwk] }))
  })
  const ctx = await buildTestApp(t)
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { jwksUrl: server.url, minRefetchIntervalMs: 0, fetchTimeoutMs: 30_000 } })
  const token = signedUnder(keys.privateKey, 'k1')
  t.same(await reader.read(token), { live: false, reason: 'idle' }, 'verified (no session behind it)')
  stalled = true // max-age=0: every read from now on wants a refresh, and each refresh hangs for 30 s
  for (let i = 0; i < 3; i++) t.ok(await within(5000, reader.read(token)), `read ${i} is served from the keys at hand`)
})
