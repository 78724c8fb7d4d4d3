import { createHash, createPublicKey, generateKeyPairSync, type JsonWebKey, verify } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_JWT_SECRET } from '../helpers/config.js'
import { claimsOf, headerOf, login, me, newSession, signAsGatehouse, signUp } from '../helpers/http.js'
import { sleep } from '../helpers/wait.js'

const NEW_SECRET = 'the-next-gatehouse-secret-0123456789abcdef'
const pem = (key: { export(o: object): string | Buffer }, type: 'pkcs8' | 'spki') => key.export({ format: 'pem', type }).toString()

/** RFC 7638, computed here independently of src/tokens. */
function thumbprint (jwk: JsonWebKey): string {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

/** Verifies a token the way another service would: only the JWKS, node:crypto, no project code. */
function verifyWithJwks (token: string, jwks: { keys: JsonWebKey[] }): boolean {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const { kid, alg } = headerOf(token)
  const jwk = jwks.keys.find((k) => k.kid === kid)
  if (!jwk || jwk.alg !== alg) return false
  const key = createPublicKey({ key: jwk, format: 'jwk' })
  return verify(alg === 'EdDSA' ? null : 'sha256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'))
}

const HS256 = { JWT_ALGORITHM: 'HS256' }
const CREDENTIAL = 'key-rotation-introspection-credential-000000'

t.test('HS256 secret rotation logs no one out', async (t) => {
  const before = await buildTestApp(t, HS256)
  const { token: oldToken, email } = await newSession(before)
  const shared = { ...HS256, REDIS_KEY_PREFIX: before.config.redisKeyPrefix }
  const after = await buildTestApp(t, { ...shared, JWT_SECRET: NEW_SECRET, JWT_PREVIOUS_SECRETS: TEST_JWT_SECRET })

  t.equal((await me(after.app, `Token token=${oldToken}`)).statusCode, 200, 'a token signed with the previous secret still verifies')
  const { token: newToken } = await login(after.app, email)
  t.not(headerOf(newToken).kid, headerOf(oldToken).kid, 'new tokens name the new key')
  t.equal((await me(after.app, `Token token=${newToken}`)).statusCode, 200)

  const retired = await buildTestApp(t, { ...shared, JWT_SECRET: NEW_SECRET })
  t.equal((await me(retired.app, `Token token=${oldToken}`)).statusCode, 401, 'once the old secret is dropped, its tokens stop working')
  t.equal((await me(retired.app, `Token token=${newToken}`)).statusCode, 200)
})

t.test('the kid is checked, never trusted', async (t) => {
  const ctx = await buildTestApp(t, { ...HS256, JWT_PREVIOUS_SECRETS: NEW_SECRET })
  const { token, email } = await newSession(ctx)
  const next = await buildTestApp(t, { ...HS256, REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix, JWT_SECRET: NEW_SECRET })
  const otherKid = headerOf((await login(next.app, email)).token).kid
  const claims = claimsOf(token)
  const cases: Array<[string, string]> = [
    ['an unknown kid', createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', kid: 'no-such-key' })({ ...claims })],
    ['a numeric kid', createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', header: { alg: 'HS256', kid: 7 as unknown as string } })({ ...claims })],
    ["another known key's kid on this key's signature", createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', kid: otherKid })({ ...claims })],
    ['a header that is not JSON', `bm90IGpzb24.${token.split('.')[1]}.${token.split('.')[2]}`],
  ]
  for (const [name, forged] of cases) t.equal((await me(ctx.app, `Token token=${forged}`)).statusCode, 401, name)
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'the genuine token still works')
})

t.test('EdDSA: public keys in the JWKS, verifiable without any secret', async (t) => {
  const first = generateKeyPairSync('ed25519')
  const ctx = await buildTestApp(t, { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: pem(first.privateKey, 'pkcs8') })
  const { token } = await newSession(ctx)
  const header = headerOf(token)
  t.equal(header.alg, 'EdDSA')
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)

  const res = await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['cache-control'], /max-age=\d+/)
  const jwks = res.json()
  t.equal(jwks.keys.length, 1)
  t.same(Object.keys(jwks.keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'], 'public parts only (no "d")')
  t.match(jwks.keys[0], { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: header.kid })
  t.equal(header.kid, thumbprint(jwks.keys[0]), 'kid is the RFC 7638 thumbprint')
  t.ok(verifyWithJwks(token, jwks), 'another service verifies the token from the JWKS alone')

  t.test('algorithm confusion is refused', async (t) => {
    const claims = claimsOf(token)
    const publicPem = pem(first.publicKey, 'spki')
    const asHmac = createSigner({ key: publicPem, algorithm: 'HS256', kid: header.kid })({ ...claims })
    t.equal((await me(ctx.app, `Token token=${asHmac}`)).statusCode, 401, 'HS256 with the public key as the secret')
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', kid: header.kid })).toString('base64url')}.${token.split('.')[1]}.`
    t.equal((await me(ctx.app, `Token token=${unsigned}`)).statusCode, 401, 'alg none')
    const hsToken = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256' })({ ...claims })
    t.equal((await me(ctx.app, `Token token=${hsToken}`)).statusCode, 401, 'an HS256 token when no HS256 secret is configured')
  })

  t.test('rotation: the previous public key still verifies and stays published', async (t) => {
    const second = generateKeyPairSync('ed25519')
    const rotated = await buildTestApp(t, {
      REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix,
      JWT_ALGORITHM: 'EdDSA',
      JWT_PRIVATE_KEY: pem(second.privateKey, 'pkcs8').replaceAll('\n', '\\n'),
      JWT_PREVIOUS_PUBLIC_KEYS: pem(first.publicKey, 'spki'),
      JWT_PREVIOUS_SECRETS: TEST_JWT_SECRET,
    })
    t.equal((await me(rotated.app, `Token token=${token}`)).statusCode, 200, 'old EdDSA token still works')
    const email = rotated.email()
    await signUp(rotated.app, email)
    const { token: fresh } = await login(rotated.app, email)
    const keys = (await rotated.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
    t.equal(keys.keys.length, 2, 'current and previous')
    t.equal(keys.keys[0].kid, headerOf(fresh).kid, 'the signing key first')
    t.ok(verifyWithJwks(fresh, keys) && verifyWithJwks(token, keys))
  })
})

t.test('RS256 from a key file', async (t) => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const dir = t.testdir({})
  const file = join(dir, 'jwt.pem')
  writeFileSync(file, pem(privateKey, 'pkcs8'))
  const ctx = await buildTestApp(t, { JWT_ALGORITHM: 'RS256', JWT_PRIVATE_KEY_FILE: file })
  const { token } = await newSession(ctx)
  t.equal(headerOf(token).alg, 'RS256')
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
  const jwks = (await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.match(jwks.keys, [{ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' }])
  t.notOk('d' in jwks.keys[0] || 'p' in jwks.keys[0], 'no private parts')
  t.ok(verifyWithJwks(token, jwks))
})

t.test('moving from HS256 to EdDSA (the default) logs no one out, and the secret signs nothing new', async (t) => {
  const before = await buildTestApp(t, HS256)
  const { token: oldToken, email } = await newSession(before)
  const key = generateKeyPairSync('ed25519')
  // The last HS256 instance goes; what it kept ahead of the clock (5 s) passes before the first login below.
  await before.app.close()
  const lastHs256 = Number(await before.redis.hget(`${before.config.redisKeyPrefix}config`, 'shared_secret_sessions_before'))
  t.ok(lastHs256 > Date.now(), 'an instance that signs with HS256 keeps the field ahead of the clock')
  // The upgrade as docs/ops.md has it: a private key added, the secret kept only to verify.
  const after = await buildTestApp(t, { REDIS_KEY_PREFIX: before.config.redisKeyPrefix, JWT_PRIVATE_KEY: pem(key.privateKey, 'pkcs8'), JWT_PREVIOUS_SECRETS: TEST_JWT_SECRET, INTROSPECTION_TOKENS: CREDENTIAL })
  t.equal(after.config.jwt.algorithm, 'EdDSA', 'the default')
  t.equal((await me(after.app, `Token token=${oldToken}`)).statusCode, 200, 'a token the secret signed still verifies')
  await sleep(Math.max(0, lastHs256 - Date.now() + 50))
  const { token: newToken } = await login(after.app, email)
  t.equal(headerOf(newToken).alg, 'EdDSA', 'new tokens are EdDSA')
  const jwks = (await after.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.ok(verifyWithJwks(newToken, jwks), 'and verify with the published public key alone')
  t.equal((await me(after.app, `Token token=${newToken}`)).statusCode, 200)

  // Whoever still holds the secret (a reader service given it before the move) can sign any claims,
  // but a token of the secret reaches only the sessions that existed before the private key took over.
  const forged = signAsGatehouse({ ...claimsOf(newToken) }, TEST_JWT_SECRET)
  t.equal(headerOf(forged).alg, 'HS256')
  t.equal((await me(after.app, `Token token=${forged}`)).statusCode, 401, 'the secret cannot reach a session created since the move')
  const introspect = async (token: string) => (await after.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${CREDENTIAL}` }, payload: { token, extend: true } })).json().active
  t.equal(await introspect(forged), false, 'nor through introspection')
  t.equal(await introspect(newToken), true, 'the genuine token of that session is active')
  t.equal(await introspect(oldToken), true, 'and so is the old token of a session from before the move')
  const configKey = `${after.config.redisKeyPrefix}config`
  const movedAt = Number(await after.redis.hget(configKey, 'shared_secret_sessions_before'))
  t.equal(movedAt, lastHs256, 'the last moment a shared secret signed stays recorded in <prefix>config')
  const restarted = await buildTestApp(t, { REDIS_KEY_PREFIX: after.config.redisKeyPrefix, JWT_PRIVATE_KEY: pem(key.privateKey, 'pkcs8'), JWT_PREVIOUS_SECRETS: TEST_JWT_SECRET })
  t.equal(Number(await restarted.redis.hget(configKey, 'shared_secret_sessions_before')), movedAt, 'a restart keeps the recorded time')
  t.equal((await me(restarted.app, `Token token=${forged}`)).statusCode, 401)
  t.equal((await me(restarted.app, `Token token=${oldToken}`)).statusCode, 200)

  // Later, with the secret gone (SESSION_MAX_AGE_SECONDS after the move), the old token stops working.
  const done = await buildTestApp(t, { REDIS_KEY_PREFIX: before.config.redisKeyPrefix, JWT_PRIVATE_KEY: pem(key.privateKey, 'pkcs8') })
  t.equal((await me(done.app, `Token token=${oldToken}`)).statusCode, 401, 'tokens of the dropped secret no longer verify')
  t.equal((await me(done.app, `Token token=${newToken}`)).statusCode, 200)
})

t.test('with HS256 only, the JWKS is empty: there is no public key to publish', async (t) => {
  const ctx = await buildTestApp(t, HS256)
  const res = await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.same(res.json(), { keys: [] })
})
