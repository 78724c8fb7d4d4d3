import { constants, createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject, randomBytes, sign } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSigner } from 'fast-jwt'
import { Redis } from 'ioredis'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_JWT_KID, TEST_JWT_PRIVATE_KEY, TEST_REDIS_CLUSTER_NODES, uniqueId } from '../helpers/config.js'
import { call, claimsOf, me, newAdmin, newSession, signAsGatehouse } from '../helpers/http.js'

// An id is not a credential. A service that reads sessions holds the public JWKS, a read-only
// Redis login and the events stream: every session id and user id, every session's times. With
// all of it, and every trick of RFC 8725 and its kin, it must not make a token Gatehouse accepts.
// Only what such a reader could know is used to forge; the test's own knowledge (the admin's
// token, the private key) serves only as controls, which prove a real hole would be caught.

const SERVICE = 'reader-cannot-mint-introspection-credential-0123456789'
const TYP = 'gatehouse-session+jwt'

type Signer = (input: string) => Buffer
const hmac = (hash: string, secret: string | Buffer): Signer => (input) => createHmac(hash, secret).update(input).digest()
const signWith = (key: KeyObject, hash: string | null, options: object = {}): Signer => (input) => sign(hash, Buffer.from(input), { key, ...options })
const bytes = (value: Buffer): Signer => () => value
const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url')

/** A compact JWS; header and payload as objects, or as raw JSON text (for duplicated members). */
function jws (header: object | string, payload: object | string, signer: Signer): string {
  const text = (part: object | string) => b64(typeof part === 'string' ? part : JSON.stringify(part))
  const input = `${text(header)}.${text(payload)}`
  return `${input}.${b64(signer(input))}`
}

/** The kid format of an HS256 secret (docs/session-contract.md), computed here for any bytes. */
const secretKid = (secret: string | Buffer) => createHmac('sha256', secret).update('gatehouse key id').digest('base64url').slice(0, 16)

/** RFC 7638. */
function thumbprint (jwk: JsonWebKey): string {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

// ACL SETUSER below is for a single Redis; on a Cluster each node would need the user.
const onCluster = TEST_REDIS_CLUSTER_NODES ? 'needs a single Redis for its ACL user' : false

t.test('a reader with the JWKS, a read-only Redis login and the events stream cannot mint a token', { skip: onCluster }, async (t) => {
  const ctx = await buildTestApp(t, { INTROSPECTION_TOKENS: SERVICE })
  t.equal(ctx.config.jwt.algorithm, 'EdDSA', 'the test helpers default to EdDSA')
  if (ctx.config.redis.mode !== 'single') throw new Error('a single Redis is needed')
  const prefix = ctx.config.redisKeyPrefix

  // Live sessions: an admin's (the prize) and an ordinary user's (the attacker may hold one).
  const admin = await newAdmin(ctx)
  const user = await newSession(ctx)
  const adminRoute = `/admin/users/${admin.user.id}/sessions`

  // --- The reader's credentials: a read-only ACL user on the shared Redis, as test/reader/read-only.test.ts makes one.
  const username = `gatehouse-test-reader-${uniqueId()}`
  const password = randomBytes(24).toString('base64url')
  const acl = new Redis(ctx.config.redis.url, { maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    await acl.call('ACL', 'DELUSER', username).catch(() => {})
    acl.disconnect()
  })
  await acl.call('ACL', 'SETUSER', username, 'on', `>${password}`, 'resetkeys', `%R~${prefix}*`, 'resetchannels',
    '-@all', '+@read', '+eval_ro', '+evalsha_ro', '+time', '+ping', '+info', '+client|setname')
  const reader = new Redis(ctx.config.redis.url, { username, password, maxRetriesPerRequest: 1 })
  reader.on('error', () => {})
  t.teardown(() => reader.disconnect())
  t.equal(await reader.ping(), 'PONG', 'the reader is logged in as its own ACL user')

  const sessionKeyPrefix = `${prefix}sess:`
  const liveSessionKey = `${sessionKeyPrefix}{${admin.user.id}}:${claimsOf(admin.token).jti}`
  await t.rejects(reader.set(`${prefix}x`, '1'), /NOPERM/, 'the reader cannot SET')
  await t.rejects(reader.hset(liveSessionKey, 'last_seen_at', '1'), /NOPERM/, 'the reader cannot HSET a session')
  await t.rejects(reader.xadd(`${prefix}events`, '*', 'v', '1'), /NOPERM/, 'the reader cannot XADD an event')
  await t.rejects(reader.eval("return redis.call('DEL', KEYS[1])", 1, liveSessionKey), /NOPERM/, 'the reader cannot EVAL')
  await t.rejects(reader.call('EVAL_RO', "return redis.call('HSET', KEYS[1], 'v', '3')", '1', liveSessionKey), /can't run this command|Write commands are not allowed|NOPERM/,
    'EVAL_RO, which it may run, cannot write')

  // --- What the reader collects. The JWKS over real HTTP, as any service fetches it.
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const origin = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const jwksResponse = await fetch(`${origin}/.well-known/jwks.json`)
  t.equal(jwksResponse.status, 200, 'GET /.well-known/jwks.json')
  const jwksText = await jwksResponse.text()
  const jwks = JSON.parse(jwksText) as { keys: JsonWebKey[] }
  t.equal(jwks.keys.length, 1, 'one public key')
  const jwk = jwks.keys[0]!
  t.match(jwk, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: TEST_JWT_KID }, 'the Ed25519 public key, under its thumbprint')
  t.equal(jwk.d, undefined, 'no private part is published')
  const kid = jwk.kid as string
  const publicKey = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' })
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString()
  const der = publicKey.export({ format: 'der', type: 'spki' })
  const x = Buffer.from(jwk.x!, 'base64url')
  t.equal(x.length, 32, 'the raw public key is 32 bytes')

  // The events stream: every session's id and its user.
  const entries = (await reader.xrange(`${prefix}events`, '-', '+')) as [string, string[]][]
  const events = entries.map(([, fields]) => Object.fromEntries(fields.flatMap((_, i) => (i % 2 === 0 ? [[fields[i]!, fields[i + 1]!]] : []))))
  t.ok(events.some((event) => event.type === 'created' && event.session_id === claimsOf(admin.token).jti && event.user_id === admin.user.id),
    "the events stream names the admin's session id and user id")

  // Everything under the prefix, by type: the reader's whole view of Redis.
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await reader.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  const values: string[] = []
  for (const key of keys) {
    const type = await reader.type(key)
    if (type === 'string') values.push(String(await reader.get(key)))
    else if (type === 'hash') values.push(JSON.stringify(await reader.hgetall(key)))
    else if (type === 'zset') values.push(...await reader.zrange(key, '0', '-1', 'WITHSCORES'))
    else if (type === 'stream') values.push(JSON.stringify(await reader.xrange(key, '-', '+')))
    else if (type === 'set') values.push(...await reader.smembers(key))
    else if (type === 'list') values.push(...await reader.lrange(key, 0, -1))
  }
  const loot = [...keys, ...values].join('\n')
  const adminSignature = admin.token.split('.')[2]!
  const privateSeed = createPrivateKey(TEST_JWT_PRIVATE_KEY).export({ format: 'jwk' }).d!
  t.ok(loot.includes(admin.user.id) && loot.includes(String(claimsOf(admin.token).jti)), "the reader's view of Redis holds the admin's ids")
  t.notOk(loot.includes(adminSignature) || loot.includes(admin.token.split('.')[1]!), 'but no token, nor a part of one')
  t.notOk(loot.includes(privateSeed) || loot.includes(Buffer.from(privateSeed, 'base64url').toString('base64')), 'nor the private key')

  // The admin's session, found as a reader would: by the role in its hash.
  const adminSessions: Array<{ key: string, hash: Record<string, string> }> = []
  for (const key of keys.filter((name) => name.startsWith(sessionKeyPrefix))) {
    const hash = await reader.hgetall(key)
    if (hash.role === 'admin') adminSessions.push({ key, hash })
  }
  t.equal(adminSessions.length, 1, 'one admin session in Redis')
  const { key: adminKey, hash } = adminSessions[0]!
  const named = /^sess:\{([0-9a-f-]{36})\}:([A-Za-z0-9_-]{22})$/.exec(adminKey.slice(prefix.length))
  t.ok(named, 'its key names the user and the session')
  const createdAt = Number(hash.created_at)
  const claims = {
    jti: named![2]!,
    user_id: named![1]!,
    created_at: createdAt,
    iat: Math.floor(createdAt / 1000),
    exp: Number(hash.max_expires_at) / 1000,
    iss: 'gatehouse',
  }
  t.same(claims, claimsOf(admin.token), "the reader has rebuilt the admin token's claims exactly: only a signature is missing")
  const { iss: _iss, ...untypedClaims } = claims
  const untypedUntil = Number(await reader.hget(`${prefix}config`, 'untyped_tokens_until'))
  t.ok(untypedUntil > Date.now(), 'the untyped window is open, so the untyped path is live')

  // --- Requests: GET /me, an admin route, POST /introspect.
  const introspect = (token: string) => ctx.app.inject({
    method: 'POST',
    url: '/introspect',
    headers: { authorization: `Bearer ${SERVICE}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ token }),
  })
  const answers = async (token: string) => {
    // A token with a line break cannot travel in a header: it is tried through introspection only.
    const inHeader = !/[\r\n]/.test(token)
    const meRes = inHeader ? await me(ctx.app, `Token token=${token}`) : null
    const adminRes = inHeader ? await call(ctx.app, 'GET', adminRoute, token) : null
    const introspection = await introspect(token)
    return { me: meRes?.statusCode ?? null, admin: adminRes?.statusCode ?? null, inHeader, introspection: introspection.statusCode === 200 ? introspection.json() : { status: introspection.statusCode } }
  }

  // Controls: the genuine admin token works, and so do the rebuilt claims signed with the real key
  // (which only Gatehouse, and this test, hold). So the forgeries below differ in the key alone.
  const genuine = await answers(admin.token)
  t.same([genuine.me, genuine.admin], [200, 200], "CONTROL: the admin's genuine token gets 200 on /me and on the admin route")
  t.match(genuine.introspection, { active: true, role: 'admin', jti: claims.jti }, 'CONTROL: and is active at /introspect')
  const rebuilt = await answers(signAsGatehouse({ ...claims }))
  t.same([rebuilt.me, rebuilt.admin, rebuilt.introspection.active], [200, 200, true], 'CONTROL: the rebuilt claims signed with the private key are accepted')
  const untypedGenuine = createSigner({ key: TEST_JWT_PRIVATE_KEY, algorithm: 'EdDSA', kid, header: { alg: 'EdDSA', typ: 'JWT' } })({ ...untypedClaims })
  t.same((await answers(untypedGenuine)).admin, 200, 'CONTROL: an untyped token signed with the private key passes (the untyped path is open)')
  t.equal((await call(ctx.app, 'GET', adminRoute, user.token)).statusCode, 403, "CONTROL: the ordinary user's genuine token is refused the admin route (403)")

  // --- The forgeries.
  const attacker = {
    ed25519: generateKeyPairSync('ed25519'),
    ed448: generateKeyPairSync('ed448'),
    rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    p256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    k256: generateKeyPairSync('ec', { namedCurve: 'secp256k1' }),
  }
  const attackerJwk = attacker.ed25519.publicKey.export({ format: 'jwk' })
  const attackerKid = thumbprint(attackerJwk)
  const edSign = signWith(attacker.ed25519.privateKey, null)

  // The attacker's own key server, for jku / x5u: Gatehouse must never fetch from it.
  const fetched: string[] = []
  const keyServer = createServer((request, response) => {
    fetched.push(request.url ?? '')
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ keys: [{ ...attackerJwk, kid, alg: 'EdDSA', use: 'sig' }, { ...attackerJwk, kid: attackerKid, alg: 'EdDSA', use: 'sig' }] }))
  })
  keyServer.listen(0, '127.0.0.1')
  await once(keyServer, 'listening')
  t.teardown(() => { keyServer.close() })
  const attackerUrl = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}`

  const typed = (alg: string, keyId?: unknown, extra: object = {}) => ({ alg, typ: TYP, ...(keyId === undefined ? {} : { kid: keyId }), ...extra })
  const untyped = (alg: string, keyId?: unknown) => ({ alg, typ: 'JWT', ...(keyId === undefined ? {} : { kid: keyId }) })
  const forged: Array<[string, string]> = []

  // HS256 with the public key (in every form the reader has) or an id as the HMAC secret.
  const secrets: Array<[string, string | Buffer]> = [
    ['the public key PEM', pem],
    ['the PEM without its final newline', pem.trimEnd()],
    ['the SPKI DER', der],
    ['the raw 32-byte x', x],
    ['x as base64url text', jwk.x!],
    ['the JWK JSON text', JSON.stringify(jwk)],
    ['the JWKS document as served', jwksText],
    ['the thumbprint input', JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x })],
    ['the kid', kid],
    ['the session id', claims.jti],
    ['the user id', claims.user_id],
    ['an empty secret', ''],
  ]
  for (const [what, secret] of secrets) {
    for (const [kidName, keyId] of [['the EdDSA kid', kid], ['no kid', undefined], ['the HS256 secret kid of that secret', secretKid(secret)]] as const) {
      forged.push([`HS256 with ${what} as secret, ${kidName}`, jws(typed('HS256', keyId), claims, hmac('sha256', secret))])
      forged.push([`untyped (typ JWT, no iss) HS256 with ${what} as secret, ${kidName}`, jws(untyped('HS256', keyId), untypedClaims, hmac('sha256', secret))])
    }
  }
  for (const [alg, hash] of [['HS384', 'sha384'], ['HS512', 'sha512']] as const) {
    for (const [what, secret] of [['the public key PEM', pem], ['the raw 32-byte x', x]] as const) {
      forged.push([`${alg} with ${what}, the EdDSA kid`, jws(typed(alg, kid), claims, hmac(hash, secret))])
      forged.push([`${alg} with ${what}, no kid`, jws(typed(alg), claims, hmac(hash, secret))])
    }
  }

  // alg none, and EdDSA with a signature that is empty or degenerate.
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    forged.push([`alg ${alg}, the EdDSA kid, empty signature`, jws(typed(alg, kid), claims, bytes(Buffer.alloc(0)))])
    forged.push([`alg ${alg}, no kid, empty signature`, jws(typed(alg), claims, bytes(Buffer.alloc(0)))])
  }
  forged.push(['untyped alg none, no kid', jws(untyped('none'), untypedClaims, bytes(Buffer.alloc(0)))])
  forged.push(['alg none with only two parts', jws(typed('none', kid), claims, bytes(Buffer.alloc(0))).slice(0, -1)])
  forged.push(['EdDSA, the real kid, empty signature', jws(typed('EdDSA', kid), claims, bytes(Buffer.alloc(0)))])
  forged.push(['EdDSA, the real kid, 64 zero bytes', jws(typed('EdDSA', kid), claims, bytes(Buffer.alloc(64)))])
  forged.push(['EdDSA, the real kid, R = the identity point and S = 0', jws(typed('EdDSA', kid), claims, bytes(Buffer.concat([Buffer.from([1]), Buffer.alloc(63)])))])
  forged.push(['EdDSA, the real kid, the public key twice as signature', jws(typed('EdDSA', kid), claims, bytes(Buffer.concat([x, x])))])
  forged.push(['EdDSA, the real kid, 64 random bytes', jws(typed('EdDSA', kid), claims, bytes(randomBytes(64)))])

  // The attacker's own Ed25519 key, named or embedded every way a header allows.
  forged.push(["the attacker's Ed25519 key under the real kid", jws(typed('EdDSA', kid), claims, edSign)])
  forged.push(["the attacker's Ed25519 key under its own kid", jws(typed('EdDSA', attackerKid), claims, edSign)])
  forged.push(["the attacker's Ed25519 key, no kid", jws(typed('EdDSA'), claims, edSign)])
  forged.push(["the attacker's Ed25519 key, untyped, under the real kid", jws(untyped('EdDSA', kid), untypedClaims, edSign)])
  forged.push(["the attacker's Ed25519 key, untyped, no kid", jws(untyped('EdDSA'), untypedClaims, edSign)])
  forged.push(["a jwk header with the attacker's key, the real kid", jws(typed('EdDSA', kid, { jwk: attackerJwk }), claims, edSign)])
  forged.push(["a jwk header with the attacker's key (kid = real kid inside it)", jws(typed('EdDSA', kid, { jwk: { ...attackerJwk, kid } }), claims, edSign)])
  forged.push(["a jwk header with the attacker's key, no kid", jws(typed('EdDSA', undefined, { jwk: attackerJwk }), claims, edSign)])
  forged.push(["a jku header to the attacker's JWKS, the real kid", jws(typed('EdDSA', kid, { jku: `${attackerUrl}/jwks.json` }), claims, edSign)])
  forged.push(["a jku header to the attacker's JWKS, the attacker's kid", jws(typed('EdDSA', attackerKid, { jku: `${attackerUrl}/jwks.json` }), claims, edSign)])
  forged.push(["a jku header to Gatehouse's own JWKS, the real kid", jws(typed('EdDSA', kid, { jku: `${origin}/.well-known/jwks.json` }), claims, edSign)])
  forged.push(["an x5u header to the attacker's server, the real kid", jws(typed('EdDSA', kid, { x5u: `${attackerUrl}/cert.pem` }), claims, edSign)])
  forged.push(["an x5u header to the attacker's server, no kid", jws(typed('EdDSA', undefined, { x5u: `${attackerUrl}/cert.pem` }), claims, edSign)])
  forged.push(["an x5c header with the attacker's SPKI, the real kid", jws(typed('EdDSA', kid, { x5c: [attacker.ed25519.publicKey.export({ format: 'der', type: 'spki' }).toString('base64')] }), claims, edSign)])
  forged.push(["a cnf claim with the attacker's key", jws(typed('EdDSA', kid), { ...claims, cnf: { jwk: attackerJwk } }, edSign)])
  forged.push(["alg Ed25519 (RFC 9864's name) with the attacker's key, the real kid", jws(typed('Ed25519', kid), claims, edSign)])
  forged.push(["alg ed25519 with the attacker's key, the real kid", jws(typed('ed25519', kid), claims, edSign)])
  forged.push(["the attacker's Ed448 key under alg EdDSA and the real kid", jws(typed('EdDSA', kid), claims, signWith(attacker.ed448.privateKey, null))])
  forged.push(["crit b64:false (RFC 7797) with the attacker's key, the real kid", jws(typed('EdDSA', kid, { b64: false, crit: ['b64'] }), claims, edSign)])

  // Other algorithms with keys the attacker has.
  const rs256 = signWith(attacker.rsa.privateKey, 'sha256')
  const rsaJwk = attacker.rsa.publicKey.export({ format: 'jwk' })
  forged.push(["RS256 with the attacker's RSA key, the real kid", jws(typed('RS256', kid), claims, rs256)])
  forged.push(["RS256 with the attacker's RSA key, its own kid", jws(typed('RS256', thumbprint(rsaJwk)), claims, rs256)])
  forged.push(["RS256 with the attacker's RSA key, no kid", jws(typed('RS256'), claims, rs256)])
  forged.push(["RS256 with the attacker's RSA key in a jwk header", jws(typed('RS256', kid, { jwk: rsaJwk }), claims, rs256)])
  forged.push(["RS256, untyped, with the attacker's RSA key, the real kid", jws(untyped('RS256', kid), untypedClaims, rs256)])
  forged.push(["PS256 with the attacker's RSA key, the real kid", jws(typed('PS256', kid), claims, signWith(attacker.rsa.privateKey, 'sha256', { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }))])
  forged.push(["ES256 with the attacker's P-256 key, the real kid", jws(typed('ES256', kid), claims, signWith(attacker.p256.privateKey, 'sha256', { dsaEncoding: 'ieee-p1363' }))])
  forged.push(["ES256 with the attacker's P-256 key in a jwk header, no kid", jws(typed('ES256', undefined, { jwk: attacker.p256.publicKey.export({ format: 'jwk' }) }), claims, signWith(attacker.p256.privateKey, 'sha256', { dsaEncoding: 'ieee-p1363' }))])
  forged.push(["ES256K with the attacker's secp256k1 key, the real kid", jws(typed('ES256K', kid), claims, signWith(attacker.k256.privateKey, 'sha256', { dsaEncoding: 'ieee-p1363' }))])

  // kid games: paths, injections, other spellings and types of the real kid.
  const kids: Array<[string, unknown]> = [
    ['"../"', '../'],
    ['"../../../../dev/null"', '../../../../dev/null'],
    ['"/dev/null"', '/dev/null'],
    ['an SQL injection', "x' OR '1'='1"],
    ['the real kid with a NUL appended', `${kid}\u0000`],
    ['the real kid with a space before it', ` ${kid}`],
    ['the real kid in upper case', kid.toUpperCase()],
    ['the real kid in an array', [kid]],
    ['the real kid in an object', { kid }],
    ['null', null],
    ['0', 0],
    ['the empty string', ''],
  ]
  for (const [what, keyId] of kids) {
    forged.push([`kid ${what}, HS256 with an empty secret`, jws(typed('HS256', keyId), claims, hmac('sha256', ''))])
    forged.push([`kid ${what}, HS256 with the public key PEM`, jws(typed('HS256', keyId), claims, hmac('sha256', pem))])
    forged.push([`kid ${what}, EdDSA with the attacker's key`, jws(typed('EdDSA', keyId), claims, edSign)])
  }

  // The ordinary user's genuine token, its signature kept, its payload (or parts of it) swapped.
  const [userHeader, userPayload, userSignature] = user.token.split('.') as [string, string, string]
  const adminPayload = b64(JSON.stringify(claims))
  forged.push(["the user's genuine header and signature on the admin's claims", `${userHeader}.${adminPayload}.${userSignature}`])
  forged.push(["the user's claims with the admin's ids, the user's signature", `${userHeader}.${b64(JSON.stringify({ ...claimsOf(user.token), jti: claims.jti, user_id: claims.user_id }))}.${userSignature}`])
  forged.push(["the user's token with the admin's payload added as a fourth part", `${userHeader}.${userPayload}.${adminPayload}.${userSignature}`])
  forged.push(["the user's token with the admin's payload in front", `${userHeader}.${adminPayload}.${userPayload}.${userSignature}`])
  forged.push(["the user's signature under a header that adds a jwk", `${b64(JSON.stringify({ ...JSON.parse(Buffer.from(userHeader, 'base64url').toString()), jwk: attackerJwk }))}.${adminPayload}.${userSignature}`])
  forged.push(["the user's payload with duplicated jti/user_id members (the admin's last), the user's signature",
    `${userHeader}.${b64(`${Buffer.from(userPayload, 'base64url').toString().slice(0, -1)},"jti":"${claims.jti}","user_id":"${claims.user_id}"}`)}.${userSignature}`])

  // Serialization tricks (RFC 7515 §7.2, JWE, duplicated members, whitespace, padding, a BOM).
  const forgedHs = jws(typed('HS256', kid), claims, hmac('sha256', pem))
  forged.push(['a JWS JSON serialization (flattened) of the user\'s signature on the admin\'s claims', JSON.stringify({ protected: userHeader, payload: adminPayload, signature: userSignature })])
  forged.push(['a JWS JSON serialization (general) of the user\'s signature on the admin\'s claims', JSON.stringify({ payload: adminPayload, signatures: [{ protected: userHeader, signature: userSignature }] })])
  forged.push(['a JWS JSON serialization with the attacker\'s key in an unprotected header', JSON.stringify({ payload: adminPayload, protected: b64(JSON.stringify(typed('EdDSA', kid))), header: { jwk: attackerJwk }, signature: edSign(`${b64(JSON.stringify(typed('EdDSA', kid)))}.${adminPayload}`).toString('base64url') })])
  forged.push(['a JWE-shaped token (five parts, alg dir)', `${b64(JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid, typ: TYP }))}..${b64(randomBytes(12))}.${adminPayload}.${b64(randomBytes(16))}`])
  forged.push(['a header with two alg members (EdDSA then HS256), HMAC with the PEM', jws(`{"alg":"EdDSA","typ":"${TYP}","kid":"${kid}","alg":"HS256"}`, claims, hmac('sha256', pem))])
  forged.push(['a header with two alg members (HS256 then EdDSA), HMAC with the PEM', jws(`{"alg":"HS256","typ":"${TYP}","kid":"${kid}","alg":"EdDSA"}`, claims, hmac('sha256', pem))])
  forged.push(['a header with two kid members (the attacker\'s then the real one), the attacker\'s key', jws(`{"alg":"EdDSA","typ":"${TYP}","kid":"${attackerKid}","kid":"${kid}"}`, claims, edSign)])
  forged.push(['a header with two kid members (the real one then the attacker\'s), the attacker\'s key', jws(`{"alg":"EdDSA","typ":"${TYP}","kid":"${kid}","kid":"${attackerKid}"}`, claims, edSign)])
  forged.push(['a header spelling alg with a unicode escape, the attacker\'s key', jws(`{"alg":"\\u0045dDSA","typ":"${TYP}","kid":"${kid}"}`, claims, edSign)])
  forged.push(['a header and payload with a BOM, the attacker\'s key', jws(`\uFEFF${JSON.stringify(typed('EdDSA', kid))}`, `\uFEFF${JSON.stringify(claims)}`, edSign)])
  for (const [what, base] of [['HS256 with the PEM', forgedHs], ["the user's signature on the admin's claims", `${userHeader}.${adminPayload}.${userSignature}`]] as const) {
    const [h, p, s] = base.split('.') as [string, string, string]
    forged.push([`${what}, a space after each dot`, `${h}. ${p}. ${s}`])
    forged.push([`${what}, a line break between the parts`, `${h}.\n${p}.\n${s}`])
    forged.push([`${what}, a space inside the payload`, `${h}.${p.slice(0, 10)} ${p.slice(10)}.${s}`])
    forged.push([`${what}, base64 padding on each part`, `${h}==.${p}==.${s}==`])
    forged.push([`${what}, standard base64 (+ and /)`, `${h}.${p}.${s}`.replace(/-/g, '+').replace(/_/g, '/')])
  }

  t.ok(forged.length > 120, `${forged.length} forged tokens`)
  for (const [name, token] of forged) {
    const answer = await answers(token)
    if (answer.inHeader) {
      t.equal(answer.me, 401, `${name}: GET /me 401`)
      t.equal(answer.admin, 401, `${name}: GET /admin/users/:id/sessions 401`)
    }
    t.same(answer.introspection, { active: false }, `${name}: POST /introspect inactive`)
  }
  t.same(fetched, [], "Gatehouse never fetched a key from the attacker's jku/x5u URL")

  // Still live after all that: every refusal above was the token's, not a session ended by the attempts.
  t.equal((await call(ctx.app, 'GET', adminRoute, admin.token)).statusCode, 200, "CONTROL: the admin's genuine token still gets 200 after the forgeries")

  // --- After a logout and a revoke-all, the reader sees the events but cannot bring a session back.
  const dumped = await reader.dumpBuffer(adminKey)
  t.ok(dumped, "the reader can DUMP the admin's session hash while it is live")
  t.equal((await call(ctx.app, 'DELETE', '/sessions?all=true', admin.token)).statusCode, 200, 'the admin ends all their sessions')
  t.equal((await call(ctx.app, 'DELETE', '/sessions/current', user.token)).statusCode, 204, 'the user logs out')
  const after = ((await reader.xrange(`${prefix}events`, '-', '+')) as [string, string[]][])
    .map(([, fields]) => Object.fromEntries(fields.flatMap((_, i) => (i % 2 === 0 ? [[fields[i]!, fields[i + 1]!]] : []))))
  t.ok(after.some((event) => event.type === 'revoked' && event.session_id === claims.jti && event.reason === 'revoke-all'), "the reader sees the admin's session revoked (revoke-all)")
  t.ok(after.some((event) => event.type === 'revoked' && event.session_id === claimsOf(user.token).jti && event.reason === 'logout'), "the reader sees the user's logout")
  t.equal(await reader.exists(adminKey), 0, "the admin's session hash is gone")

  await t.rejects(reader.restore(adminKey, 0, dumped!), /NOPERM/, 'RESTORE of the DUMP is refused')
  await t.rejects(reader.hset(adminKey, hash), /NOPERM/, 'HSET of the old fields is refused')
  await t.rejects(reader.call('EVAL_RO', "return redis.call('HSET', KEYS[1], 'v', '3')", '1', adminKey), /can't run this command|Write commands are not allowed|NOPERM/, 'a write from EVAL_RO is refused')
  await t.rejects(reader.call('COPY', `${prefix}config`, adminKey), /NOPERM/, 'COPY is refused')
  t.equal(await ctx.redis.exists(adminKey), 0, "the admin's session hash is still gone")
  const revoked = await answers(admin.token)
  t.same([revoked.me, revoked.admin, revoked.introspection], [401, 401, { active: false }], "the admin's genuine token is refused after the revoke-all")
  t.equal((await me(ctx.app, `Token token=${user.token}`)).statusCode, 401, "the user's genuine token is refused after the logout")
})
