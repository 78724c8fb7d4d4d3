// Writes contract/fixtures/reading-cases.json: the cases every reader of Gatehouse sessions must
// decide alike (docs/session-contract.md, "Reading a session from another service"). Both the
// Python kit and @gatehouse/session-reader are run over them by test/contract/reading-cases.test.ts,
// which also checks this file is what this script writes (node scripts/reading-cases.mjs).
// Deterministic: fixed secrets, ids and claims; session times are relative to Redis' clock when
// the case is loaded (`${now-60000}`: 60 s ago, in ms; `${now_us+...}` in µs, for cutoffs). The
// cases where a session's hash is gone compare its token's fixed created_at with fixed cutoffs.
/* eslint-disable no-template-curly-in-string -- ${now...} are placeholders in the JSON, filled when a case is loaded */
import { createHash, createHmac, createPrivateKey, createPublicKey, sign as edSign } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { secretKid, TOKEN_TYPE } from '@gatehouse/session-reader/token'

const SECRET = 'reading-cases-fixture-secret-0123456789abcdef' // a test key, never a deployment's
const PREVIOUS = 'reading-cases-previous-secret-0123456789abcdef'
const UNKNOWN = 'reading-cases-some-other-secret-0123456789ab'
const ISSUER = 'gatehouse'
const EXP = 4102444800 // 2100-01-01: the absolute end the token claims; the hash's max_expires_at decides
const CREATED = 1795445440745

// The deployment's Ed25519 key (EdDSA, the default), from a fixed seed. A test key, never a deployment's.
const ED_PRIVATE = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), createHash('sha256').update('reading-cases ed25519 key').digest()]), format: 'der', type: 'pkcs8' })
const ED_OTHER = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), createHash('sha256').update('reading-cases some other key').digest()]), format: 'der', type: 'pkcs8' })
const publicJwk = (key) => {
  const { crv, kty, x } = createPublicKey(key).export({ format: 'jwk' })
  // The kid Gatehouse gives a public key: its RFC 7638 thumbprint.
  const kid = createHash('sha256').update(JSON.stringify({ crv, kty, x })).digest('base64url')
  return { kty, crv, x, kid, alg: 'EdDSA', use: 'sig' }
}
const ED_JWK = publicJwk(ED_PRIVATE)
const ED_PUBLIC_PEM = createPublicKey(ED_PRIVATE).export({ format: 'pem', type: 'spki' })

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
function jwt (header, claims, { secret = SECRET, alg = 'sha256' } = {}) {
  const signed = `${b64(header)}.${b64(claims)}`
  return `${signed}.${createHmac(alg, secret).update(signed).digest('base64url')}`
}

/** A token signed with Ed25519 (EdDSA), by the deployment's key unless `key` says otherwise. */
function edJwt (header, claims, key = ED_PRIVATE) {
  const signed = `${b64(header)}.${b64(claims)}`
  return `${signed}.${edSign(null, Buffer.from(signed), key).toString('base64url')}`
}
const edHeader = (extra = {}) => ({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: ED_JWK.kid, ...extra })

let n = 0
/** A session of its own for each case: a user id and session id no other case uses. */
function ids () {
  n++
  const hex = n.toString(16).padStart(12, '0')
  return { user_id: `45e96239-43d9-4590-b3fd-${hex}`, jti: `case${String(n).padStart(4, '0')}-AAAAAAAAAAAAA`.slice(0, 22) }
}
const claimsOf = ({ user_id, jti }, extra = {}) => ({ jti, user_id, created_at: CREATED, iat: Math.floor(CREATED / 1000), exp: EXP, iss: ISSUER, ...extra })
const header = (secret = SECRET, extra = {}) => ({ alg: 'HS256', typ: TOKEN_TYPE, kid: secretKid(secret), ...extra })
const liveHash = ({ user_id }, extra = {}) => ({
  v: '3',
  user_id,
  role: 'user',
  created_at: '${now-60000}',
  last_seen_at: '${now-1000}',
  max_expires_at: '${now+86400000}',
  client: 'ios',
  user_agent: 'Gatehouse/1.0',
  ip: '127.0.0.1',
  email: 'ada@example.com',
  user_created_at: '${now-120000}',
  generation: '0',
  ...extra,
})

const cases = []
/**
 * A case: its token, the Redis state it is read against, and what every reader must answer:
 * `expect` is live or the reason, `revoked:<cause>` for a revocation whose cause is known.
 */
function add (name, expected, build) {
  const id = ids()
  const [expect, cause = null] = expected.split(':')
  const { token, session = liveHash(id), ttlMs = 1200_000, cutoff = null, revocation = null, ended = null, config = null, audience = null, sharedSecrets = true } = build(id)
  cases.push({
    name,
    expect,
    expect_cause: cause,
    token,
    audience,
    shared_secrets: sharedSecrets,
    user_id: id.user_id,
    jti: id.jti,
    session,
    session_ttl_ms: ttlMs,
    cutoff,
    revocation,
    ended,
    config,
  })
}
const token = (id, extra, opts) => jwt(header(opts?.secret), claimsOf(id, extra), opts)

// Tokens
add('a live session', 'live', (id) => ({ token: token(id) }))
// Untyped tokens pass only while the window Gatehouse recorded at its upgrade is open
// (<prefix>config untyped_tokens_until, Unix ms): it closes by itself.
const UNTYPED_OPEN = { untyped_tokens_until: '${now+86400000}' }
const untypedToken = (id) => {
  const { iss, ...claims } = claimsOf(id)
  return jwt({ alg: 'HS256', typ: 'JWT', kid: secretKid(SECRET) }, claims)
}
add('a token from before tokens were typed (typ JWT, no iss), within the untyped window', 'live', (id) => ({ token: untypedToken(id), config: UNTYPED_OPEN }))
add('a layout-1 token: no kid, typ JWT, no iss, within the untyped window', 'live', (id) => {
  const { iss, ...claims } = claimsOf(id)
  return { token: jwt({ alg: 'HS256', typ: 'JWT' }, claims), config: UNTYPED_OPEN }
})
add('an untyped token once the untyped window has closed', 'invalid_token', (id) => ({ token: untypedToken(id), config: { untyped_tokens_until: '${now-1}' } }))
add('an untyped token with no untyped window recorded (fail closed)', 'invalid_token', (id) => ({ token: untypedToken(id) }))
add('an untyped token with an untyped window that is not a number', 'invalid_token', (id) => ({ token: untypedToken(id), config: { untyped_tokens_until: 'forever' } }))

// EdDSA, the default: services verify with the public keys (the JWKS) and hold nothing that signs.
add('EdDSA, signed by the deployment\'s key, read with the public keys only', 'live', (id) => ({ token: edJwt(edHeader(), claimsOf(id)), sharedSecrets: false }))
add('EdDSA, bound to an audience the request names', 'live', (id) => ({ token: edJwt(edHeader(), claimsOf(id, { aud: 'ios-app' })), audience: 'ios-app', sharedSecrets: false }))
add('EdDSA, signed by another key under the deployment\'s kid', 'invalid_token', (id) => ({ token: edJwt(edHeader(), claimsOf(id), ED_OTHER), sharedSecrets: false }))
add('EdDSA with an unknown kid', 'invalid_token', (id) => ({ token: edJwt(edHeader({ kid: publicJwk(ED_OTHER).kid }), claimsOf(id), ED_OTHER), sharedSecrets: false }))
add('EdDSA with no kid', 'invalid_token', (id) => {
  const { kid, ...h } = edHeader()
  return { token: edJwt(h, claimsOf(id)), sharedSecrets: false }
})
add('EdDSA, past its exp', 'max_age', (id) => ({ token: edJwt(edHeader(), claimsOf(id, { exp: 1700000000 })), sharedSecrets: false }))
add('EdDSA, another issuer', 'invalid_token', (id) => ({ token: edJwt(edHeader(), claimsOf(id, { iss: 'https://evil.example' })), sharedSecrets: false }))
add('EdDSA, untyped (typ JWT, no iss; from before typing), within the untyped window', 'live', (id) => {
  const { iss, ...claims } = claimsOf(id)
  return { token: edJwt(edHeader({ typ: 'JWT' }), claims), config: UNTYPED_OPEN, sharedSecrets: false }
})
add('HS256 by the shared secret, read by a service given only the public keys (the secret refused)', 'invalid_token', (id) => ({ token: token(id), sharedSecrets: false }))
add('HS256 keyed with the public key\'s PEM, under the EdDSA kid (algorithm confusion)', 'invalid_token', (id) => ({
  token: jwt({ alg: 'HS256', typ: TOKEN_TYPE, kid: ED_JWK.kid }, claimsOf(id), { secret: ED_PUBLIC_PEM }),
}))
add('HS256 keyed with the public key\'s raw x, under the EdDSA kid (algorithm confusion)', 'invalid_token', (id) => ({
  token: jwt({ alg: 'HS256', typ: TOKEN_TYPE, kid: ED_JWK.kid }, claimsOf(id), { secret: Buffer.from(ED_JWK.x, 'base64url') }),
}))
add('EdDSA header on an HMAC signature by the shared secret', 'invalid_token', (id) => ({ token: jwt(edHeader(), claimsOf(id)) }))
add('signed by a previous secret (JWT_PREVIOUS_SECRETS, a rotation)', 'live', (id) => ({ token: jwt(header(PREVIOUS), claimsOf(id), { secret: PREVIOUS }) }))
add('signed by a secret the deployment does not have', 'invalid_token', (id) => ({ token: jwt(header(UNKNOWN), claimsOf(id), { secret: UNKNOWN }) }))
add('the kid of one secret, signed by another', 'invalid_token', (id) => ({ token: jwt(header(SECRET), claimsOf(id), { secret: PREVIOUS }) }))
add('alg none', 'invalid_token', (id) => ({ token: `${b64({ alg: 'none', typ: TOKEN_TYPE })}.${b64(claimsOf(id))}.` }))
add('HS512 with the right secret', 'invalid_token', (id) => ({ token: jwt(header(SECRET, { alg: 'HS512' }), claimsOf(id), { alg: 'sha512' }) }))
add('another issuer', 'invalid_token', (id) => ({ token: token(id, { iss: 'https://evil.example' }) }))
add('typed, without an issuer', 'invalid_token', (id) => {
  const { iss, ...claims } = claimsOf(id)
  return { token: jwt(header(), claims) }
})
add('another type (at+jwt)', 'invalid_token', (id) => ({ token: jwt(header(SECRET, { typ: 'at+jwt' }), claimsOf(id)) }))
add('typ JWT naming an issuer (neither typed nor from before typing)', 'invalid_token', (id) => ({ token: jwt(header(SECRET, { typ: 'JWT' }), claimsOf(id)) }))
add('no typ', 'invalid_token', (id) => ({ token: jwt({ alg: 'HS256', kid: secretKid(SECRET) }, claimsOf(id)) }))
add('past its exp', 'max_age', (id) => ({ token: token(id, { exp: 1700000000 }) }))
add('user_id in upper case (another spelling names other keys)', 'invalid_token', (id) => ({ token: token(id, { user_id: id.user_id.toUpperCase() }) }))
add('a jti that is not 22 base64url characters', 'invalid_token', (id) => ({ token: token(id, { jti: `${id.jti}=` }) }))
add('created_at missing', 'invalid_token', (id) => {
  const { created_at, ...claims } = claimsOf(id)
  return { token: jwt(header(), claims) }
})
add('created_at as a string', 'invalid_token', (id) => ({ token: token(id, { created_at: String(CREATED) }) }))
add('a payload changed after signing', 'invalid_token', (id) => {
  const [h, , s] = token(id).split('.')
  return { token: `${h}.${b64(claimsOf(id, { user_id: '45e96239-43d9-4590-b3fd-ffffffffffff' }))}.${s}` }
})
add('not a JWT at all', 'invalid_token', () => ({ token: 'not-a-token' }))
add('exp written as a whole number with a fraction (4102444800.0: the same JSON number)', 'live', (id) => ({
  token: jwt(header(), JSON.stringify(claimsOf(id)).replace(`"exp":${EXP}`, `"exp":${EXP}.0`)),
}))
add('nbf in the future', 'invalid_token', (id) => ({ token: token(id, { nbf: EXP - 1 }) }))
add('kid null', 'invalid_token', (id) => ({ token: jwt(header(SECRET, { kid: null }), claimsOf(id)) }))
add('a crit header naming an extension', 'invalid_token', (id) => ({ token: jwt(header(SECRET, { crit: ['gatehouse-x'], 'gatehouse-x': 1 }), claimsOf(id)) }))
add('a payload that starts with a byte-order mark', 'invalid_token', (id) => ({ token: jwt(header(), `\ufeff${JSON.stringify(claimsOf(id))}`) }))
add('a genuine token with = padding added to its signature', 'invalid_token', (id) => ({ token: `${token(id)}=` }))
add('a genuine token with characters outside base64url inserted', 'invalid_token', (id) => {
  const [h, p, sig] = token(id).split('.')
  return { token: `${h}.${p}.${sig.slice(0, 10)}!*~${sig.slice(10)}` }
})
add("a genuine signature re-spelled in base64's + and / alphabet", 'invalid_token', (id) => {
  // Find a token whose signature has - or _ in it, and spell those the standard way.
  for (let i = 0; ; i++) {
    const t = token(id, { created_at: CREATED + i })
    const [h, p, sig] = t.split('.')
    if (/[-_]/.test(sig)) return { token: `${h}.${p}.${sig.replaceAll('-', '+').replaceAll('_', '/')}` }
  }
})
add('bound to an audience, and the request names it', 'live', (id) => ({ token: token(id, { aud: 'ios-app' }), audience: 'ios-app' }))
add('bound to an audience, and the request names none', 'wrong_audience', (id) => ({ token: token(id, { aud: 'ios-app' }) }))
add('bound to an audience, and the request names another', 'wrong_audience', (id) => ({ token: token(id, { aud: 'ios-app' }), audience: 'web' }))
add('an audience that is a list', 'invalid_token', (id) => ({ token: token(id, { aud: ['ios-app'] }), audience: 'ios-app' }))
add('unbound, and the request names an audience anyway', 'live', (id) => ({ token: token(id), audience: 'ios-app' }))

// The session in Redis
add('no session key and nothing remembered of it (Redis expired it: idle)', 'idle', (id) => ({ token: token(id), session: null }))
add('an unknown layout version', 'unknown_version', (id) => ({ token: token(id), session: liveHash(id, { v: '4' }) }))
add('layout 1 (moved from an old release; no role yet)', 'live', (id) => ({ token: token(id), session: liveHash(id, { v: '1' }) }))
add("another user's id in the hash", 'no_session', (id) => ({ token: token(id), session: liveHash(id, { user_id: '45e96239-43d9-4590-b3fd-eeeeeeeeeeee' }) }))
add('a hash without a TTL (recreated by a stray write)', 'no_session', (id) => ({ token: token(id), ttlMs: null }))
add('max_expires_at not a number', 'no_session', (id) => ({ token: token(id), session: liveHash(id, { max_expires_at: 'soon' }) }))
add("below the user's cutoff (a revoke-all)", 'revoked', (id) => ({ token: token(id), cutoff: '${now_us-1000}' }))
add('no generation field, created before the cutoff', 'revoked', (id) => {
  const { generation, ...session } = liveHash(id)
  return { token: token(id), session, cutoff: '${now_us-1000}' }
})
add('a generation at the cutoff (the session a revoke-all kept)', 'live', (id) => ({ token: token(id), session: liveHash(id, { generation: '1700000000000000' }), cutoff: '1700000000000000' }))
add('past max_expires_at', 'max_age', (id) => ({ token: token(id), session: liveHash(id, { max_expires_at: '${now-1}' }) }))
add('idle longer than a TTL ops shortened', 'idle', (id) => ({ token: token(id), session: liveHash(id, { last_seen_at: '${now-120000}' }), config: { session_ttl_seconds: '60' } }))
add('idle for less than the TTL in force', 'live', (id) => ({ token: token(id), session: liveHash(id, { last_seen_at: '${now-30000}' }), config: { session_ttl_seconds: '60' } }))
add('idle longer than a TTL of 3 s ops just set', 'idle', (id) => ({ token: token(id), session: liveHash(id, { last_seen_at: '${now-4000}' }), config: { session_ttl_seconds: '3' } }))
add('idle longer than the default TTL, with no TTL set by ops', 'idle', (id) => ({ token: token(id), session: liveHash(id, { last_seen_at: '${now-1300000}' }) }))
add('a TTL in config that is not valid is ignored (the default applies)', 'live', (id) => ({ token: token(id), session: liveHash(id, { last_seen_at: '${now-120000}' }), config: { session_ttl_seconds: '15m' } }))
add('a TTL in config above SESSION_MAX_AGE_SECONDS is ignored', 'idle', (id) => ({ token: token(id), session: liveHash(id, { last_seen_at: '${now-1300000}' }), config: { session_ttl_seconds: '99999999' } }))

// Client policies: the session's client is the audience its token is bound to (the hash's aud),
// and ops set its idle window, maximum age and ending in <prefix>config. Each case names a client
// of its own, so that one case's policy cannot reach another's under a shared prefix.
let clients = 0
/** A case of a token bound to a client of its own (EdDSA, read with the public keys), named by the request. */
function clientCase (name, expected, build) {
  const aud = `policy-client-${String(++clients).padStart(2, '0')}`
  add(name, expected, (id) => ({ token: edJwt(edHeader(), claimsOf(id, { aud })), audience: aud, sharedSecrets: false, ...build(id, aud) }))
}
const policy = (aud, { ttl, maxAge, endedBefore }) => ({
  ...(ttl !== undefined && { [`client_ttl_seconds:${aud}`]: ttl }),
  ...(maxAge !== undefined && { [`client_max_age_seconds:${aud}`]: maxAge }),
  ...(endedBefore !== undefined && { [`client_ended_before:${aud}`]: endedBefore }),
})
const TWO_HOURS_IDLE = { created_at: '${now-7300000}', last_seen_at: '${now-7200000}' }
const DAY_MS = 86_400_000 // the key's TTL for sessions idle longer than the global TTL (the hash decides)
clientCase('a client idle window longer than the global: used 2 h ago, under a 30 d client TTL (the global is 20 min)', 'live', (id, aud) => ({
  session: liveHash(id, { aud, ...TWO_HOURS_IDLE }), ttlMs: DAY_MS, config: policy(aud, { ttl: '2592000' }),
}))
clientCase('a client idle window shorter than the global: unused for 2 min, under a 60 s client TTL', 'idle', (id, aud) => ({
  session: liveHash(id, { aud, last_seen_at: '${now-120000}' }), config: policy(aud, { ttl: '60' }),
}))
clientCase('within a client idle window shorter than the global: used 30 s ago, under a 60 s client TTL', 'live', (id, aud) => ({
  session: liveHash(id, { aud, last_seen_at: '${now-30000}' }), config: policy(aud, { ttl: '60' }),
}))
clientCase('bound to a client ops set no policy for: the global TTL applies (unused for 2 h)', 'idle', (id, aud) => ({
  session: liveHash(id, { aud, ...TWO_HOURS_IDLE }), ttlMs: DAY_MS,
}))
clientCase('bound to a client ops set no policy for, used a second ago', 'live', (id, aud) => ({ session: liveHash(id, { aud }) }))
clientCase("a client maximum age shorter than the session's age", 'max_age', (id, aud) => ({
  session: liveHash(id, { aud, created_at: '${now-7200000}' }), config: policy(aud, { maxAge: '3600' }),
}))
clientCase('within a client maximum age, and its idle window', 'live', (id, aud) => ({
  session: liveHash(id, { aud }), config: policy(aud, { ttl: '600', maxAge: '3600' }),
}))
for (const [what, ttl] of [['not only digits (2592000s)', '2592000s'], ['in hexadecimal (0x278D00)', '0x278D00'], ['with a leading space', ' 2592000'], ['with a fraction (2592000.0)', '2592000.0']]) {
  clientCase(`a client TTL ${what} is ignored: the global applies (unused for 2 h)`, 'idle', (id, aud) => ({
    session: liveHash(id, { aud, ...TWO_HOURS_IDLE }), ttlMs: DAY_MS, config: policy(aud, { ttl }),
  }))
}
clientCase("a client TTL above the client's maximum age is ignored (unused for 2 h)", 'idle', (id, aud) => ({
  session: liveHash(id, { aud, ...TWO_HOURS_IDLE }), ttlMs: DAY_MS, config: policy(aud, { ttl: '2592000', maxAge: '86400' }),
}))
clientCase('a client TTL above SESSION_MAX_AGE_SECONDS is ignored (unused for 2 h)', 'idle', (id, aud) => ({
  session: liveHash(id, { aud, ...TWO_HOURS_IDLE }), ttlMs: DAY_MS, config: policy(aud, { ttl: '2592001' }),
}))
clientCase('a client maximum age of 0 is ignored: the absolute end is the token\'s', 'live', (id, aud) => ({
  session: liveHash(id, { aud, created_at: '${now-7200000}' }), config: policy(aud, { maxAge: '0' }),
}))
clientCase("ops ended the client's sessions after this one was created", 'revoked:client_ended', (id, aud) => ({
  session: liveHash(id, { aud }), config: policy(aud, { endedBefore: '${now-1000}' }),
}))
clientCase("ops ended the client's sessions before this one was created", 'live', (id, aud) => ({
  session: liveHash(id, { aud }), config: policy(aud, { endedBefore: '${now-120000}' }),
}))
clientCase('a client ending that is not a time ends every session of the client (fail closed)', 'revoked:client_ended', (id, aud) => ({
  session: liveHash(id, { aud }), config: policy(aud, { endedBefore: 'yesterday' }),
}))
clientCase("the hash is another client's than the token's", 'no_session', (id) => ({ session: liveHash(id, { aud: 'someone-else' }) }))
clientCase('the hash is of an unbound token (aud empty) and the token is bound', 'no_session', (id) => ({ session: liveHash(id, { aud: '' }) }))
add('the token is unbound and the hash names a client', 'no_session', (id) => ({
  token: edJwt(edHeader(), claimsOf(id)), session: liveHash(id, { aud: 'policy-client-ios' }), sharedSecrets: false,
}))
clientCase('a session from before client policies (no aud field), bound, under a 30 d client TTL: the global applies (unused for 2 h)', 'idle', (id, aud) => ({
  session: liveHash(id, TWO_HOURS_IDLE), ttlMs: DAY_MS, config: policy(aud, { ttl: '2592000' }),
}))
// A session from before the field has no client of its own, but ending its token's client ends it.
clientCase("a session from before client policies (no aud field), bound: ops ended the token's client after it was created", 'revoked:client_ended', (id, aud) => ({
  session: liveHash(id), config: policy(aud, { endedBefore: '${now-1000}' }),
}))
clientCase("a session from before client policies (no aud field), bound: ops ended the token's client before it was created", 'live', (id, aud) => ({
  session: liveHash(id), config: policy(aud, { endedBefore: '${now-120000}' }),
}))
add('an unbound session (aud empty) below a revoke-all recorded as a password change', 'revoked:password_changed', (id) => ({
  token: edJwt(edHeader(), claimsOf(id)),
  session: liveHash(id, { aud: '' }),
  sharedSecrets: false,
  cutoff: '${now_us-1000}',
  revocation: { at: '${now_us-1000}', reason: 'password_changed', kept: '' },
}))
add("below a revoke-all whose record is another cutoff's: no cause", 'revoked', (id) => ({
  token: edJwt(edHeader(), claimsOf(id)),
  session: liveHash(id, { aud: '' }),
  sharedSecrets: false,
  cutoff: '${now_us-1000}',
  revocation: { at: '${now_us-2000}', reason: 'password_changed', kept: '' },
}))

// Why a session whose hash is gone ended: what Redis remembers of it (its own ending, the user's
// last revoke-all, its client's ending) and its token (created_at, exp, aud). Nothing: idle.
const gone = (extra = {}) => (id) => ({ token: edJwt(edHeader(), claimsOf(id)), session: null, sharedSecrets: false, ...extra })
add('no session key, ended by its own logout', 'logged_out', gone({ ended: 'logged_out' }))
add('no session key, ended by the user from another session', 'revoked:signed_out_elsewhere', gone({ ended: 'signed_out_elsewhere' }))
add('no session key, ended to stay within SESSION_MAX_PER_USER', 'revoked:session_limit', gone({ ended: 'session_limit' }))
add('no session key, ended by an admin', 'revoked:admin', gone({ ended: 'admin' }))
add('no session key, an ending that is not a known cause: revoked, no cause', 'revoked', gone({ ended: 'gremlins' }))
const CUT_AFTER = String((CREATED + 1000) * 1000) // a revoke-all a second after the tokens' sessions were created, µs
const CUT_BEFORE = String((CREATED - 1000) * 1000)
add('no session key, its logout remembered and a revoke-all after it: logged out', 'logged_out', gone({
  ended: 'logged_out', cutoff: CUT_AFTER, revocation: { at: CUT_AFTER, reason: 'password_changed', kept: '' },
}))
add('no session key, created before a revoke-all recorded as a password change', 'revoked:password_changed', gone({
  cutoff: CUT_AFTER, revocation: { at: CUT_AFTER, reason: 'password_changed', kept: 'AAAAAAAAAAAAAAAAAAAAAA' },
}))
add("no session key, created before a revoke-all whose record is another cutoff's: no cause", 'revoked', gone({
  cutoff: CUT_AFTER, revocation: { at: String(Number(CUT_AFTER) - 1), reason: 'password_changed', kept: '' },
}))
add('no session key, created before a revoke-all with no record', 'revoked', gone({ cutoff: CUT_AFTER }))
add('no session key, created before a revoke-all recorded with a reason that is not a known cause', 'revoked', gone({
  cutoff: CUT_AFTER, revocation: { at: CUT_AFTER, reason: 'gremlins', kept: '' },
}))
add('no session key, the session a revoke-all kept (then expired)', 'idle', (id) => gone({
  cutoff: CUT_AFTER, revocation: { at: CUT_AFTER, reason: 'signed_out_elsewhere', kept: id.jti },
})(id))
add('no session key, created after the last revoke-all', 'idle', gone({
  cutoff: CUT_BEFORE, revocation: { at: CUT_BEFORE, reason: 'password_changed', kept: '' },
}))
add('no session key, and a cutoff that is not an integer', 'revoked', gone({ cutoff: 'soon' }))
clientCase("no session key, ops ended its client's sessions after it was created", 'revoked:client_ended', (id, aud) => ({
  session: null, config: policy(aud, { endedBefore: String(CREATED + 1000) }),
}))
clientCase("no session key, created after ops ended its client's sessions", 'idle', (id, aud) => ({
  session: null, config: policy(aud, { endedBefore: String(CREATED - 1000) }),
}))
clientCase("no session key, past its client's maximum age", 'max_age', (id, aud) => ({
  session: null, config: policy(aud, { maxAge: '3600' }),
}))

// JSON and base64url as JavaScript reads them (JSON.parse, Buffer.from(x, 'base64url')), genuinely signed
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
add('a header holding a JSON comment (not JSON)', 'invalid_token', (id) => ({
  token: edJwt(JSON.stringify(edHeader()).replace('"EdDSA",', '"EdDSA"/*x*/,'), claimsOf(id)), sharedSecrets: false,
}))
add('NaN in an extra claim (not JSON)', 'invalid_token', (id) => ({
  token: edJwt(edHeader(), JSON.stringify(claimsOf(id)).replace('{', '{"x":NaN,')), sharedSecrets: false,
}))
add('Infinity in an extra claim (not JSON)', 'invalid_token', (id) => ({
  token: edJwt(edHeader(), JSON.stringify(claimsOf(id)).replace('{', '{"x":-Infinity,')), sharedSecrets: false,
}))
add('a genuine signature whose last character has its unused low bits set (the same bytes)', 'live', (id) => {
  // 64 bytes: the last of 86 characters carries 2 bits and 4 unused ones, which decoders ignore.
  const [h, p, sig] = edJwt(edHeader(), claimsOf(id)).split('.')
  return { token: `${h}.${p}.${sig.slice(0, -1)}${B64URL[B64URL.indexOf(sig.at(-1)) | 0b1111]}`, sharedSecrets: false }
})

// The session's clock: a hash whose last use cannot be read is idle (fail closed), by every reader
// and by Gatehouse's own scripts (docs/session-contract.md, step 9).
add('last_seen_at missing (fail closed: idle)', 'idle', (id) => {
  const { last_seen_at: _, ...session } = liveHash(id)
  return { token: token(id), session }
})
add('last_seen_at not a number (fail closed: idle)', 'idle', (id) => ({ token: token(id), session: liveHash(id, { last_seen_at: 'recently' }) }))
// Time fields are plain integers: any other spelling of one (a fraction, a space, an exponent,
// hexadecimal) is not one, for every reader and for Gatehouse, which reads them alike.
add('last_seen_at with a fraction (fail closed: idle)', 'idle', (id) => ({ token: token(id), session: liveHash(id, { last_seen_at: '${now-1000}.5' }) }))
add('last_seen_at with a leading space (fail closed: idle)', 'idle', (id) => ({ token: token(id), session: liveHash(id, { last_seen_at: ' ${now-1000}' }) }))
add('last_seen_at in exponent form (fail closed: idle)', 'idle', (id) => ({ token: token(id), session: liveHash(id, { last_seen_at: '${now-1000}e0' }) }))
add('a cutoff that is not an integer ends a live session (fail closed)', 'revoked', (id) => ({ token: token(id), cutoff: '1.5' }))

const file = {
  _comment: 'Cases every reader of Gatehouse sessions must decide alike; written by scripts/reading-cases.mjs. Load each into Redis under a prefix of its own: the session hash at <prefix>sess:{<user_id>}:<jti> with PEXPIRE session_ttl_ms (no TTL when null; no key when session is null); cutoff at <prefix>user:{<user_id>}:cutoff; the fields of revocation into the hash <prefix>user:{<user_id>}:revoked; ended at <prefix>ended:{<user_id>}:<jti>; each field of config into the <prefix>config hash (client_*:<audience> fields are client policies: each case names a client of its own). Replace ${now±ms} with Redis TIME in ms and ${now_us±µs} in µs. Then read the token (naming audience, if any) with the settings below: always with the public keys of JWT_JWKS, and with the HS256 secrets (JWT_SECRET, JWT_PREVIOUS_SECRETS) only when shared_secrets is true. expect: live, or the reason it is not; expect_cause: the cause that goes with revoked, when one is known (else null). JWT_PRIVATE_KEY is the private half of JWT_JWKS, for a Gatehouse that signs like the deployment; it is a test key, like the secrets.',

  settings: { JWT_JWKS: { keys: [ED_JWK] }, JWT_PRIVATE_KEY: ED_PRIVATE.export({ format: 'pem', type: 'pkcs8' }), JWT_SECRET: SECRET, JWT_PREVIOUS_SECRETS: PREVIOUS, JWT_ISSUER: ISSUER, JWT_ACCEPT_UNTYPED: true, SESSION_TTL_SECONDS: 1200, SESSION_MAX_AGE_SECONDS: 2592000 },
  cases,
}
// Another path as the first argument: the test writes a copy to compare with the committed file.
const out = process.argv[2] ? pathToFileURL(process.argv[2]) : new URL('../contract/fixtures/reading-cases.json', import.meta.url)
writeFileSync(out, JSON.stringify(file, null, 2) + '\n')
console.log(`${out.pathname}: ${cases.length} cases`)
