import { createHash, createHmac, generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createSessionReader, ReaderUnavailableError, TOKEN_TYPE } from '@gatehouse/session-reader'
import { secretKid } from '@gatehouse/session-reader/token'
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { claimsOf, headerOf, login, newSession } from '../helpers/http.js'
import { jwksServer, signedUnder } from './jwks-server.js'

// EdDSA/RS256 deployments: the library verifies with Gatehouse's /.well-known/jwks.json alone.

const pem = (key: { export(o: object): string | Buffer }, type: 'pkcs8' | 'spki') => key.export({ format: 'pem', type }).toString()

async function listening (t: Test, ctx: TestContext): Promise<string> {
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}/.well-known/jwks.json`
}

t.test('EdDSA: verified with the JWKS; after a key rotation, an unknown kid refetches it', async (t) => {
  const first = generateKeyPairSync('ed25519')
  const before = await buildTestApp(t, { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: pem(first.privateKey, 'pkcs8') })
  const url = await listening(t, before)
  const reader = createSessionReader({ redis: before.redis, keyPrefix: before.config.redisKeyPrefix, keys: { jwksUrl: url, minRefetchIntervalMs: 0 } })
  const { user, email } = await newSession(before)
  const { token: oldToken } = await login(before.app, email)
  t.match(await reader.read(oldToken), { live: true, session: { userId: user.id } })

  // The rotation: a new signing key, the old one kept for verification (its tokens stay valid).
  const second = generateKeyPairSync('ed25519')
  await before.app.close()
  const after = await buildTestApp(t, {
    JWT_ALGORITHM: 'EdDSA',
    JWT_PRIVATE_KEY: pem(second.privateKey, 'pkcs8'),
    JWT_PREVIOUS_PUBLIC_KEYS: pem(first.publicKey, 'spki'),
    REDIS_KEY_PREFIX: before.config.redisKeyPrefix,
  })
  await after.app.listen({ port: Number(new URL(url).port), host: '127.0.0.1' })
  const { token: newToken } = await login(after.app, email)
  t.not(headerOf(newToken).kid, headerOf(oldToken).kid)
  t.match(await reader.read(newToken), { live: true }, 'the new kid was fetched')
  t.match(await reader.read(oldToken), { live: true }, 'and the old one still verifies')
})

t.test('what a JWKS verifier must refuse', async (t) => {
  const keys = generateKeyPairSync('ed25519')
  const ctx = await buildTestApp(t, { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: pem(keys.privateKey, 'pkcs8') })
  const url = await listening(t, ctx)
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { jwksUrl: url } })
  const { token } = await newSession(ctx)
  t.match(await reader.read(token), { live: true })
  const [header, payload] = token.split('.') as [string, string]

  // The classic: the public key (as PEM, or as JWK text) used as an HMAC secret, under the same kid.
  const confused = Buffer.from(JSON.stringify({ ...headerOf(token), alg: 'HS256' })).toString('base64url')
  for (const secret of [pem(keys.publicKey, 'spki'), JSON.stringify(keys.publicKey.export({ format: 'jwk' }))]) {
    const forged = `${confused}.${payload}.${createHmac('sha256', secret).update(`${confused}.${payload}`).digest('base64url')}`
    t.same(await reader.read(forged), { live: false, reason: 'invalid_token' }, 'alg confusion')
  }
  const none = `${Buffer.from(JSON.stringify({ ...headerOf(token), alg: 'none' })).toString('base64url')}.${payload}.`
  t.same(await reader.read(none), { live: false, reason: 'invalid_token' }, 'alg none')
  t.same(await reader.read(`${header}.${payload}.${'A'.repeat(86)}`), { live: false, reason: 'invalid_token' }, 'a wrong signature')
  const noKid = Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: headerOf(token).typ })).toString('base64url')
  t.same(await reader.read(`${noKid}.${payload}.${token.split('.')[2]}`), { live: false, reason: 'invalid_token' }, 'no kid')
  t.equal(claimsOf(token).iss, 'gatehouse')
})

t.test('random kids cannot flood Gatehouse: one refetch per interval at most', async (t) => {
  const keys = generateKeyPairSync('ed25519')
  const jwk = { ...keys.publicKey.export({ format: 'jwk' }), kid: 'the-one-key', alg: 'EdDSA', use: 'sig' }
  const server = await jwksServer(t, (res) => res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(JSON.stringify({ keys: [jwk] })))
  const ctx = await buildTestApp(t)
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { jwksUrl: server.url, minRefetchIntervalMs: 60_000 } })
  const forged = (kid: string) => `${Buffer.from(JSON.stringify({ alg: 'EdDSA', kid })).toString('base64url')}.e30.AAAA`
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => reader.read(forged(`random-${i}`))))
  t.ok(results.every((r) => !r.live && r.reason === 'invalid_token'))
  t.equal(server.hits(), 1, '200 unknown kids at once, before any key was known: one fetch, shared')
  t.same(await reader.read(signedUnder(keys.privateKey, 'the-one-key')), { live: false, reason: 'idle' }, 'the known key verifies (no session behind it)')
  for (let i = 0; i < 200; i++) await reader.read(forged(`later-${i}`))
  t.equal(server.hits(), 1, 'and 200 more, one after another, with the keys cached: no refetch within the interval')
})

t.test('the JWKS unreachable, broken, stalled or huge: unavailable (503), never a pass; fetched keys carry on for a while', async (t) => {
  const keys = generateKeyPairSync('ed25519')
  const jwk: JsonWebKey = { ...keys.publicKey.export({ format: 'jwk' }), alg: 'EdDSA', use: 'sig' }
  let mode: 'ok' | 'down' | 'huge' | 'null' | 'stalled' = 'ok'
  const server = await jwksServer(t, (res) => {
    if (mode === 'down') return res.writeHead(500).end('{}')
    if (mode === 'huge') return res.writeHead(200).end(JSON.stringify({ keys: [], padding: 'x'.repeat(200_000) }))
    if (mode === 'null') return res.writeHead(200).end('null')
    if (mode === 'stalled') return res.writeHead(200).write('{"keys": [') // and nothing more
    res.writeHead(200, { 'cache-control': 'max-age=0' }).end(JSON.stringify({ keys: [{ ...jwk, kid: 'k1' }] }))
  })
  const ctx = await buildTestApp(t)
  const token = signedUnder(keys.privateKey, 'k1')
  const options = { redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { jwksUrl: server.url, minRefetchIntervalMs: 0, maxStaleMs: 60_000, fetchTimeoutMs: 300 } }

  const reader = createSessionReader(options)
  t.same(await reader.read(token), { live: false, reason: 'idle' }, 'k1 verifies: the Redis step finds no session (gone, nothing remembered: idle)')
  for (const broken of ['down', 'huge', 'null', 'stalled'] as const) {
    mode = broken
    t.same(await reader.read(token), { live: false, reason: 'idle' }, `${broken}: the refresh failed; the keys fetched before are used for a while`)
    await t.rejects(createSessionReader(options).read(token), ReaderUnavailableError, `${broken}: a reader with no keys yet is unavailable`)
  }
  mode = 'ok'
  const strict = createSessionReader({ ...options, keys: { ...options.keys, maxStaleMs: 0 } })
  t.same(await strict.read(token), { live: false, reason: 'idle' })
  mode = 'down'
  await t.rejects(strict.read(token), ReaderUnavailableError, 'past maxStaleMs, nothing is verified')
})

t.test('only public signing keys are used, each with its own algorithm; a move from HS256 or RS256 to EdDSA keeps working', async (t) => {
  const ed = generateKeyPairSync('ed25519')
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const publicJwk = (pair: { publicKey: import('node:crypto').KeyObject }, kid: string) => ({ ...pair.publicKey.export({ format: 'jwk' }), kid })
  const server = await jwksServer(t, (res) => res.writeHead(200).end(JSON.stringify({
    keys: [
      publicJwk(ed, 'ed'),
      { ...publicJwk(rsa, 'rsa'), alg: 'RS256' },
      { ...ed.privateKey.export({ format: 'jwk' }), kid: 'private' }, // a JWKS must never publish private parts
      publicJwk(weak, 'weak'),
      { ...publicJwk(ed, 'enc'), use: 'enc' },
      { ...publicJwk(rsa, 'mislabelled'), alg: 'EdDSA' },
    ],
  })))
  const ctx = await buildTestApp(t)
  const secret = 'the-old-hs256-secret-0123456789abcdef-000'
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { unsafeSharedSecrets: [secret], jwksUrl: server.url } })
  t.same(await reader.read(signedUnder(ed.privateKey, 'ed')), { live: false, reason: 'idle' }, 'EdDSA verifies')
  t.same(await reader.read(signedUnder(rsa.privateKey, 'rsa', 'RS256')), { live: false, reason: 'idle' }, 'RS256 verifies')
  const hs = createSigner({ key: secret, algorithm: 'HS256', kid: secretKid(secret), header: { alg: 'HS256', typ: TOKEN_TYPE }, iss: 'gatehouse' })({ jti: 'AAAAAAAAAAAAAAAAAAAAAA', user_id: '45e96239-43d9-4590-b3fd-1600c516e4d8', created_at: Date.now(), iat: 1, exp: Math.floor(Date.now() / 1000) + 60 })
  t.same(await reader.read(hs), { live: false, reason: 'idle' }, 'an old HS256 secret verifies beside the JWKS')
  t.same(await reader.read(signedUnder(ed.privateKey, 'private')), { live: false, reason: 'invalid_token' }, 'a JWK with private parts is skipped')
  t.same(await reader.read(signedUnder(weak.privateKey, 'weak', 'RS256')), { live: false, reason: 'invalid_token' }, 'RSA under 2048 bits is skipped')
  t.same(await reader.read(signedUnder(ed.privateKey, 'enc')), { live: false, reason: 'invalid_token' }, 'an encryption key is skipped')
  t.same(await reader.read(signedUnder(rsa.privateKey, 'mislabelled', 'RS256')), { live: false, reason: 'invalid_token' }, 'a key whose alg does not fit its type is skipped')
  t.same(await reader.read(signedUnder(ed.privateKey, 'rsa')), { live: false, reason: 'invalid_token' }, "an EdDSA token under an RSA key's kid")
})

t.test('the verified-token cache: a hit still needs its key in the JWKS, and past maxStaleMs nothing passes', async (t) => {
  const keys = generateKeyPairSync('ed25519')
  const other = generateKeyPairSync('ed25519')
  const jwk = (key: typeof keys, kid: string): JsonWebKey => ({ ...key.publicKey.export({ format: 'jwk' }), alg: 'EdDSA', use: 'sig', kid })
  let published: JsonWebKey[] = [jwk(keys, 'k1')]
  let down = false
  const server = await jwksServer(t, (res) => {
    if (down) return res.writeHead(500).end('{}')
    res.writeHead(200, { 'cache-control': 'max-age=0' }).end(JSON.stringify({ keys: published }))
  })
  const ctx = await buildTestApp(t)
  const token = signedUnder(keys.privateKey, 'k1')
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { jwksUrl: server.url, minRefetchIntervalMs: 0, maxStaleMs: 0 } })
  const verified = async () => (await reader.verify(token)).ok
  t.equal(await verified(), true, 'verified, and remembered')
  t.equal(await verified(), true, 'a hit')

  // The key is withdrawn (a leak): the JWKS now holds another key under the same kid.
  published = [jwk(other, 'k1')]
  t.equal(await verified(), false, 'the remembered token no longer passes: its kid names another key now')
  published = []
  t.equal(await verified(), false, 'nor with its kid gone')

  published = [jwk(keys, 'k1')]
  t.equal(await verified(), true)
  down = true
  await t.rejects(reader.verify(token), ReaderUnavailableError, 'past maxStaleMs a remembered token is unavailable too, as any other')
  down = false
  t.equal(await verified(), true)

  const uncached = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { jwksUrl: server.url, verifiedCacheSize: 0 } })
  t.equal((await uncached.verify(token)).ok, true, 'verifiedCacheSize: 0 works without a cache')
  t.throws(() => createSessionReader({ redis: ctx.redis, keys: { jwksUrl: server.url, verifiedCacheSize: -1 } }), TypeError)
})

t.test('the verified-token cache: exp is checked on every hit', async (t) => {
  const keys = generateKeyPairSync('ed25519')
  const ctx = await buildTestApp(t)
  const now = Math.floor(Date.now() / 1000)
  const { crv, kty, x } = keys.publicKey.export({ format: 'jwk' })
  const kid = createHash('sha256').update(JSON.stringify({ crv, kty, x })).digest('base64url')
  const token = createSigner({ key: pem(keys.privateKey, 'pkcs8'), algorithm: 'EdDSA', kid, header: { alg: 'EdDSA', typ: TOKEN_TYPE }, iss: 'gatehouse' })({
    jti: 'AAAAAAAAAAAAAAAAAAAAAA', user_id: '45e96239-43d9-4590-b3fd-1600c516e4d8', created_at: now * 1000, iat: now, exp: now + 2,
  })
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { publicKeys: [{ ...keys.publicKey.export({ format: 'jwk' }) }] } })
  t.equal((await reader.verify(token)).ok, true)
  t.equal((await reader.verify(token)).ok, true, 'a hit')
  await new Promise((resolve) => setTimeout(resolve, 2100))
  t.same(await reader.verify(token), { ok: false, reason: 'max_age' }, 'past its exp, the remembered token is max_age')
})
