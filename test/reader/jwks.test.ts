import { createHmac, generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSessionReader, ReaderUnavailableError } from '@gatehouse/session-reader'
import t, { type Test } from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { claimsOf, login, newSession } from '../helpers/http.js'

// EdDSA/RS256 deployments: the library verifies with Gatehouse's /.well-known/jwks.json alone.

const pem = (key: { export(o: object): string | Buffer }, type: 'pkcs8' | 'spki') => key.export({ format: 'pem', type }).toString()
const headerOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'))

async function listening (t: Test, ctx: TestContext): Promise<string> {
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}/.well-known/jwks.json`
}

/** A JWKS server of the test's own, counting its requests; `answer` decides each one. */
async function jwksServer (t: Test, answer: (res: import('node:http').ServerResponse) => void): Promise<{ url: string, hits: () => number }> {
  let hits = 0
  const server: Server = createServer((_req, res) => { hits++; answer(res) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, hits: () => hits }
}

t.test('EdDSA: verified with the JWKS; after a key rotation, an unknown kid refetches it', async (t) => {
  const first = generateKeyPairSync('ed25519')
  const before = await buildTestApp(t, { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: pem(first.privateKey, 'pkcs8') })
  const url = await listening(t, before)
  const reader = createSessionReader({ redis: before.redis, keyPrefix: before.config.redisKeyPrefix, keys: { algorithm: 'EdDSA', jwksUrl: url, minRefetchIntervalMs: 0 } })
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
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { algorithm: 'EdDSA', jwksUrl: url } })
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
  const reader = createSessionReader({ redis: ctx.redis, keys: { algorithm: 'EdDSA', jwksUrl: server.url, minRefetchIntervalMs: 60_000 } })
  const forged = (kid: string) => `${Buffer.from(JSON.stringify({ alg: 'EdDSA', kid })).toString('base64url')}.e30.AAAA`
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => reader.read(forged(`random-${i}`))))
  t.ok(results.every((r) => !r.live && r.reason === 'invalid_token'))
  t.equal(server.hits(), 1, '200 unknown kids at once: one fetch, shared')
})

t.test('the JWKS unreachable, broken or huge: unavailable (503), never a pass; fetched keys carry on for a while', async (t) => {
  const keys = generateKeyPairSync('ed25519')
  const jwk: JsonWebKey = { ...keys.publicKey.export({ format: 'jwk' }), alg: 'EdDSA', use: 'sig' }
  let mode: 'ok' | 'down' | 'huge' | 'rsa-only' = 'ok'
  const server = await jwksServer(t, (res) => {
    if (mode === 'down') return res.writeHead(500).end('{}')
    if (mode === 'huge') return res.writeHead(200).end(JSON.stringify({ keys: [], padding: 'x'.repeat(200_000) }))
    const rsa = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }), kid: 'rsa', alg: 'RS256' }
    res.writeHead(200, { 'cache-control': 'max-age=0' }).end(JSON.stringify({ keys: mode === 'rsa-only' ? [rsa] : [{ ...jwk, kid: 'k1' }, rsa] }))
  })
  const ctx = await buildTestApp(t)
  const token = `${Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: 'k1' })).toString('base64url')}.e30.AAAA`
  const options = { redis: ctx.redis, keys: { algorithm: 'EdDSA' as const, jwksUrl: server.url, minRefetchIntervalMs: 0, maxStaleMs: 60_000 } }

  const reader = createSessionReader(options)
  t.same(await reader.read(token), { live: false, reason: 'invalid_token' }, 'k1 is known: the signature decides')
  mode = 'down'
  t.same(await reader.read(token), { live: false, reason: 'invalid_token' }, 'refresh failed: the keys fetched before are used for a while')
  mode = 'huge'
  t.same(await reader.read(token), { live: false, reason: 'invalid_token' })

  for (const broken of ['down', 'huge', 'rsa-only'] as const) {
    mode = broken
    const fresh = createSessionReader(options)
    if (broken === 'rsa-only') {
      t.same(await fresh.read(token), { live: false, reason: 'invalid_token' }, 'an RS256 key is never used for EdDSA')
    } else {
      await t.rejects(fresh.read(token), ReaderUnavailableError, `${broken}: no keys yet, unavailable`)
    }
  }
  mode = 'down'
  const stale = createSessionReader({ ...options, keys: { ...options.keys, maxStaleMs: 0 } })
  mode = 'ok'
  await stale.read(token)
  mode = 'down'
  await t.rejects(stale.read(token), ReaderUnavailableError, 'past maxStaleMs, nothing is verified')
})
