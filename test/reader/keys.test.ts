import { createHash, createHmac, generateKeyPairSync, type JsonWebKey, type KeyObject, sign } from 'node:crypto'
import { createSessionReader, type ReaderRedis, type VerificationKeys } from '@gatehouse/session-reader'
import { secretKid } from '@gatehouse/session-reader/token'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { headerOf, newSession } from '../helpers/http.js'

// What a reader may be given to verify tokens with: public keys by default, Gatehouse's HS256
// secret only under a name that says what it grants, a JWKS only over https (or loopback in
// development). And what a reader with public keys only refuses.

const pem = (key: KeyObject, type: 'pkcs8' | 'spki') => key.export({ format: 'pem', type }).toString()
/** Construction only: nothing is read. */
const redis: ReaderRedis = { call: async () => { throw new Error('not read in this test') } }
const make = (keys: VerificationKeys) => createSessionReader({ redis, keys })
const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url')
const thumbprintOf = (key: KeyObject) => {
  const { crv, kty, x } = key.export({ format: 'jwk' })
  return createHash('sha256').update(JSON.stringify({ crv, kty, x })).digest('base64url')
}

t.test('jwksUrl: https only; http only to a loopback host, and never with NODE_ENV=production', async (t) => {
  const before = process.env.NODE_ENV
  t.teardown(() => { if (before === undefined) delete process.env.NODE_ENV; else process.env.NODE_ENV = before })
  process.env.NODE_ENV = 'development'
  for (const url of ['https://auth.example.com/.well-known/jwks.json', 'http://127.0.0.1:4000/.well-known/jwks.json', 'http://127.9.8.7/jwks.json', 'http://localhost:4000/jwks.json', 'http://[::1]:4000/jwks.json']) {
    t.doesNotThrow(() => make({ jwksUrl: url }), `accepted outside production: ${url}`)
  }
  const refused = [
    'http://example.com/.well-known/jwks.json',
    'http://127.0.0.1.example.com/jwks.json',
    'http://10.0.0.1/jwks.json',
    'data:application/json,{"keys":[]}',
    'file:///etc/gatehouse/jwks.json',
    'ftp://auth.example.com/jwks.json',
    'auth.example.com/jwks.json',
  ]
  for (const url of refused) t.throws(() => make({ jwksUrl: url }), TypeError, `refused: ${url}`)
  t.throws(() => make({ jwksUrl: 'http://example.com/jwks.json' }), { message: /http:\/\/example\.com is refused: an https: URL/ }, 'the message says what would do')

  process.env.NODE_ENV = 'production'
  t.throws(() => make({ jwksUrl: 'http://127.0.0.1:4000/.well-known/jwks.json' }), { name: 'TypeError', message: /NODE_ENV=production/ }, 'loopback http refused in production')
  t.throws(() => make({ jwksUrl: 'http://localhost:4000/jwks.json' }), TypeError)
  t.doesNotThrow(() => make({ jwksUrl: 'https://auth.example.com/.well-known/jwks.json' }), 'https in production')
})

t.test('publicKeys: public keys only, Ed25519 or RSA >= 2048; a private key is refused', async (t) => {
  const ed = generateKeyPairSync('ed25519')
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const rsaPkcs1 = rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString()
  const publicJwk = ed.publicKey.export({ format: 'jwk' })

  t.doesNotThrow(() => make({ publicKeys: [pem(ed.publicKey, 'spki'), pem(rsa.publicKey, 'spki')] }), 'PEM (SPKI)')
  t.doesNotThrow(() => make({ publicKeys: [publicJwk, { ...publicJwk, kid: thumbprintOf(ed.publicKey), alg: 'EdDSA', use: 'sig' }] }), 'JWK, bare or as the JWKS lists it')

  const privateKey = /private key: a reader must hold public keys only/
  t.throws(() => make({ publicKeys: [pem(ed.privateKey, 'pkcs8')] }), { name: 'TypeError', message: privateKey }, 'a PKCS#8 private PEM')
  t.throws(() => make({ publicKeys: [rsaPkcs1] }), { message: privateKey }, 'an RSA private PEM (PKCS#1)')
  t.throws(() => make({ publicKeys: [`${pem(ed.publicKey, 'spki')}${pem(ed.privateKey, 'pkcs8')}`] }), { message: privateKey }, 'a private key behind a public one')
  t.throws(() => make({ publicKeys: [ed.privateKey.export({ format: 'jwk' })] }), { message: privateKey }, 'a private JWK')
  t.throws(() => make({ publicKeys: [{ kty: 'oct', k: b64('a'.repeat(32)) }] }), { message: privateKey }, 'a symmetric JWK')

  t.throws(() => make({ publicKeys: [pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, 'spki')] }), { message: /at least 2048 bits/ }, 'RSA 1024')
  t.throws(() => make({ publicKeys: [pem(generateKeyPairSync('x25519').publicKey, 'spki')] }), TypeError, 'an X25519 key (not a signing key)')
  t.throws(() => make({ publicKeys: [pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, 'spki')] }), TypeError, 'P-256 (not an algorithm Gatehouse signs with)')
  t.throws(() => make({ publicKeys: [{ ...publicJwk, kid: 'my-key' }] }), { message: /not the key's RFC 7638 thumbprint/ }, 'a kid that is not the thumbprint')
  t.throws(() => make({ publicKeys: [{ ...publicJwk, alg: 'RS256' }] }), TypeError, 'an alg that does not fit the key')
  t.throws(() => make({ publicKeys: [{ ...publicJwk, use: 'enc' }] }), TypeError, 'an encryption key')
  t.throws(() => make({ publicKeys: ['not a key'] }), TypeError)
  t.throws(() => make({ publicKeys: [''] }), TypeError)
})

t.test('secrets (the old name) is refused, saying why; some source is required; short secrets are refused', async (t) => {
  const secret = 'a-long-enough-hs256-secret-0123456789abcdef'
  for (const keys of [{ secrets: [secret] }, { secrets: [secret], jwksUrl: 'https://auth.example.com/.well-known/jwks.json' }, { secrets: [] }]) {
    t.throws(() => make(keys as unknown as VerificationKeys), { name: 'TypeError', message: /keys\.secrets is refused: whoever holds .* can sign a token for any live session.*jwksUrl.*unsafeSharedSecrets/ })
  }
  t.throws(() => make({}), { name: 'TypeError', message: /jwksUrl.*publicKeys/ }, 'no keys at all')
  t.throws(() => make({ publicKeys: [], unsafeSharedSecrets: [] }), TypeError, 'empty lists are no keys')
  t.throws(() => make({ unsafeSharedSecrets: ['too-short'] }), { message: /at least 32 bytes/ })
  t.throws(() => make({ unsafeSharedSecrets: secret as unknown as string[] }), TypeError, 'a string where a list belongs')
  t.doesNotThrow(() => make({ unsafeSharedSecrets: [secret] }))
})

t.test('a reader with public keys only refuses HS256 tokens: by the secret, under its kid or none; keyed with the public key (algorithm confusion)', async (t) => {
  const signing = generateKeyPairSync('ed25519')
  const secret = 'the-previous-hs256-secret-0123456789abcdef-0'
  // EdDSA now, and tokens of the HS256 secret of before still verify at Gatehouse itself.
  const ctx = await buildTestApp(t, { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: pem(signing.privateKey, 'pkcs8'), JWT_PREVIOUS_SECRETS: secret })
  const { token } = await newSession(ctx)
  const kid = thumbprintOf(signing.publicKey)
  t.equal(headerOf(token).kid, kid, 'Gatehouse names its key by the thumbprint, as the reader does')
  const base = { redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix }
  const publicOnly = createSessionReader({ ...base, keys: { publicKeys: [pem(signing.publicKey, 'spki')] } })
  const asJwk = createSessionReader({ ...base, keys: { publicKeys: [signing.publicKey.export({ format: 'jwk' })] } })
  const withSecret = createSessionReader({ ...base, keys: { publicKeys: [pem(signing.publicKey, 'spki')], unsafeSharedSecrets: [secret] } })
  t.match(await publicOnly.read(token), { live: true }, 'the genuine EdDSA token, with the PEM')
  t.match(await asJwk.read(token), { live: true }, 'and with the JWK')

  const [header, payload] = token.split('.') as [string, string]
  const hs256 = (headerFields: Record<string, unknown>, key: string | Buffer) => {
    const h = b64(JSON.stringify({ ...headerOf(token), ...headerFields }))
    return `${h}.${payload}.${createHmac('sha256', key).update(`${h}.${payload}`).digest('base64url')}`
  }
  const bySecret = hs256({ alg: 'HS256', kid: secretKid(secret) }, secret)
  t.match(await withSecret.read(bySecret), { live: true }, 'the token by the secret is genuine: a reader given the secret takes it')
  t.equal((await ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Token token=${bySecret}` } })).statusCode, 401, 'Gatehouse does not: the session is newer than the last time the secret signed (shared_secret_sessions_before)')
  t.same(await publicOnly.read(bySecret), { live: false, reason: 'invalid_token' }, "under the secret's kid")
  const { kid: _kid, ...noKid } = headerOf(token)
  const kidless = `${b64(JSON.stringify({ ...noKid, alg: 'HS256' }))}.${payload}`
  const layout1 = `${kidless}.${createHmac('sha256', secret).update(kidless).digest('base64url')}`
  t.match(await withSecret.read(layout1), { live: true }, 'a kid-less token is tried against the secrets')
  t.same(await publicOnly.read(layout1), { live: false, reason: 'invalid_token' }, 'and against nothing else')

  const rawX = Buffer.from(signing.publicKey.export({ format: 'jwk' }).x!, 'base64url')
  const confusions: [string, string | Buffer][] = [
    ['PEM', pem(signing.publicKey, 'spki')],
    ['raw bytes', rawX],
    ['DER', signing.publicKey.export({ format: 'der', type: 'spki' })],
    ['JWK text', JSON.stringify(signing.publicKey.export({ format: 'jwk' }))],
  ]
  for (const [what, key] of confusions) {
    const forged = hs256({ alg: 'HS256', kid }, key)
    for (const [name, reader] of [['PEM', publicOnly], ['JWK', asJwk], ['secret too', withSecret]] as const) {
      t.same(await reader.read(forged), { live: false, reason: 'invalid_token' }, `HS256 keyed with the public key's ${what}, under its kid (reader: ${name})`)
    }
  }
  t.same(await publicOnly.read(`${header}.${payload}.`), { live: false, reason: 'invalid_token' }, 'no signature')
})

t.test('the token step refuses what is not a well-formed JWS, even when the signature over it is genuine', async (t) => {
  const signing = generateKeyPairSync('ed25519')
  const ctx = await buildTestApp(t, { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: pem(signing.privateKey, 'pkcs8') })
  const { token } = await newSession(ctx)
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { publicKeys: [pem(signing.publicKey, 'spki')] } })
  const [header, payload, signature] = token.split('.') as [string, string, string]
  /** Signs any header and payload text as Gatehouse's key would. */
  const jws = (h: string, p: string | Buffer) => {
    const input = `${b64(h)}.${b64(p)}`
    return `${input}.${sign(null, Buffer.from(input), signing.privateKey).toString('base64url')}`
  }
  const headerText = Buffer.from(header, 'base64url').toString()
  const payloadText = Buffer.from(payload, 'base64url').toString()
  t.match(await reader.read(jws(headerText, payloadText)), { live: true }, 'the same token signed again: live (the control)')

  const cases: [string, string][] = [
    ['a crit header', jws(JSON.stringify({ ...headerOf(token), crit: ['exp'] }), payloadText)],
    ['kid null', jws(JSON.stringify({ ...headerOf(token), kid: null }), payloadText)],
    ['kid a number', jws(JSON.stringify({ ...headerOf(token), kid: 7 }), payloadText)],
    ['a payload with a BOM', jws(headerText, `\uFEFF${payloadText}`)],
    ['a payload in invalid UTF-8', jws(headerText, Buffer.concat([Buffer.from(payloadText.slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')]))],
    ['a payload that is an array', jws(headerText, `[${payloadText}]`)],
    ['= padding on the signature', `${token}==`],
    ['a character outside base64url', `${header}.${payload}!.${signature}`],
    ['four parts', `${token}.${signature}`],
    ['two parts', `${header}.${payload}`],
    ['longer than 4096', `${header}.${payload}${'A'.repeat(4096)}.${signature}`],
  ]
  for (const [what, forged] of cases) t.same(await reader.read(forged), { live: false, reason: 'invalid_token' }, what)

  // A genuine signature with a - or _ in it (an extra header member varies it), re-spelled with + and /.
  let respelled = jws(headerText, payloadText)
  for (let i = 0; !/[-_]/.test(respelled.split('.')[2]!); i++) respelled = jws(JSON.stringify({ ...headerOf(token), n: i }), payloadText)
  t.match(await reader.read(respelled), { live: true }, 'spelled in base64url: live')
  const [h, p, s] = respelled.split('.') as [string, string, string]
  t.same(await reader.read(`${h}.${p}.${s.replaceAll('-', '+').replaceAll('_', '/')}`), { live: false, reason: 'invalid_token' }, 'the signature in base64 (+ and /)')
})

t.test('the JWKS entries Gatehouse publishes, given as publicKeys: read by their kid', async (t) => {
  const signing = generateKeyPairSync('ed25519')
  const ctx = await buildTestApp(t, { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: pem(signing.privateKey, 'pkcs8') })
  const published = (await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as { keys: JsonWebKey[] }
  const { token } = await newSession(ctx)
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { publicKeys: published.keys } })
  t.match(await reader.read(token), { live: true }, "Gatehouse's JWKS entries, given as publicKeys")
  const other = generateKeyPairSync('ed25519')
  const wrong = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { publicKeys: [pem(other.publicKey, 'spki')] } })
  t.same(await wrong.read(token), { live: false, reason: 'invalid_token' }, 'another key: an unknown kid')
})
