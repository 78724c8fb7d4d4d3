import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { type Algorithm, createVerifier, TokenError } from 'fast-jwt'
import { fetchJson } from './fetch-json.js'
import { MAX_TOKEN_LENGTH } from './credentials.js'
import { ReaderUnavailableError } from './errors.js'
import { REQUIRED_CLAIMS, secretKid } from './token.js'

/**
 * The keys tokens are verified with: Gatehouse's public keys (its JWKS, or given here), and only
 * if asked for by name, its HS256 secrets. Each key verifies with its own algorithm only, whatever
 * the token's header says, and is picked by the token's `kid`.
 */
export interface VerificationKeys {
  /** EdDSA/RS256: Gatehouse's `/.well-known/jwks.json`. https: only (http: to a loopback host outside production). */
  jwksUrl?: string
  /**
   * EdDSA/RS256 public keys given here instead of (or beside) the JWKS: PEM (SPKI) or public JWKs,
   * Ed25519 or RSA of at least 2048 bits. Each one's kid is its RFC 7638 thumbprint, as Gatehouse names it.
   */
  publicKeys?: readonly (string | JsonWebKey)[]
  /**
   * HS256: JWT_SECRET first, then JWT_PREVIOUS_SECRETS, each at least 32 bytes. Unsafe: whoever
   * holds one can sign a token for any live session, an admin's included. Only where Gatehouse
   * signs with HS256 and this service is trusted as much as Gatehouse itself.
   */
  unsafeSharedSecrets?: readonly string[]
  /** Refused: see `unsafeSharedSecrets`. */
  secrets?: never
  /** An unknown `kid` refetches the JWKS, at most this often (default 5 s): forged kids cannot flood Gatehouse. */
  minRefetchIntervalMs?: number
  /** How long fetched keys stay usable when Gatehouse cannot be reached to refresh them (default 1 h). */
  maxStaleMs?: number
  /** Time limit of one fetch, body included (default 5 s). */
  fetchTimeoutMs?: number
  /**
   * How many verified tokens to remember (default 10,000, about 0.5 KB each; 0: none). A hit skips
   * the signature check (an Ed25519 verify costs some 15 HMACs) but nothing else: `exp` is checked
   * every time, and the token's key must still be the one that verified it (a key gone from the
   * JWKS, or refetched, verifies again).
   */
  verifiedCacheSize?: number
}

/** What verifying a token's signature gave. */
export type Verified =
  | { ok: true, header: unknown, payload: unknown }
  | { ok: false, reason: 'invalid_token' | 'expired' }

export interface KeySet {
  /** Throws ReaderUnavailableError when the JWKS is needed and cannot be had. */
  verify(token: string): Promise<Verified>
}

type Verify = (token: string) => { header: unknown, payload: unknown }

/** One fast-jwt verifier per key, pinned to that key's algorithm: alg "none", HS512 or a public key used as an HMAC secret never pass. */
function verifierFor (key: string, algorithm: Algorithm): Verify {
  return createVerifier({
    key,
    algorithms: [algorithm],
    requiredClaims: REQUIRED_CLAIMS,
    complete: true,
  }) as Verify
}

function run (verify: Verify, token: string): Verified {
  try {
    const { header, payload } = verify(token)
    return { ok: true, header, payload }
  } catch (err) {
    return { ok: false, reason: err instanceof TokenError && err.code === TokenError.codes.expired ? 'expired' : 'invalid_token' }
  }
}

const INVALID: Verified = { ok: false, reason: 'invalid_token' }

const MIN_SECRET_BYTES = 32
const MIN_RSA_BITS = 2048

export function createKeySet (keys: VerificationKeys): KeySet {
  if (typeof keys !== 'object' || keys === null) throw new TypeError('keys: give jwksUrl (Gatehouse\'s /.well-known/jwks.json) or publicKeys')
  if ((keys as { secrets?: unknown }).secrets !== undefined) {
    throw new TypeError(
      'keys.secrets is refused: whoever holds Gatehouse\'s HS256 secret can sign a token for any live session, an admin\'s included. ' +
      'Give keys.jwksUrl (Gatehouse\'s /.well-known/jwks.json) or keys.publicKeys, with Gatehouse signing with EdDSA or RS256; ' +
      'only where Gatehouse signs with HS256 and this service is trusted as much as Gatehouse, keys.unsafeSharedSecrets.'
    )
  }
  const secrets = listOf(keys.unsafeSharedSecrets, 'unsafeSharedSecrets')
  const publicKeys = listOf(keys.publicKeys, 'publicKeys')
  if (secrets.length === 0 && publicKeys.length === 0 && keys.jwksUrl === undefined) {
    throw new TypeError('keys: give jwksUrl (Gatehouse\'s /.well-known/jwks.json) or publicKeys; unsafeSharedSecrets only for an HS256 deployment')
  }
  if (secrets.some((secret) => typeof secret !== 'string' || Buffer.byteLength(secret) < MIN_SECRET_BYTES)) {
    throw new TypeError(`keys.unsafeSharedSecrets: JWT_SECRET and JWT_PREVIOUS_SECRETS are each at least ${MIN_SECRET_BYTES} bytes`)
  }
  const bySecretKid = new Map(secrets.map((secret) => [secretKid(secret), verifierFor(secret, 'HS256')]))
  const byPublicKid = new Map(publicKeys.map((entry, i) => {
    const { kid, key, algorithm } = givenPublicKey(entry, i)
    return [kid, verifierFor(key.export({ format: 'pem', type: 'spki' }).toString(), algorithm)]
  }))
  const jwks = keys.jwksUrl === undefined ? null : jwksKeys(checkedJwksUrl(keys.jwksUrl), keys)
  const cacheSize = keys.verifiedCacheSize ?? DEFAULT_VERIFIED_CACHE_SIZE
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw new TypeError('keys.verifiedCacheSize: a whole number, 0 or more')
  /** Tokens verified, by their exact text, with the verifier that did it (first in, first out). */
  const verified = new Map<string, { verify: Verify, kid: string | undefined, header: unknown, payload: unknown, exp: number }>()

  /** The verifier of a kid: by kid alone, never by alg (each accepts only its own key's algorithm). */
  const verifierOf = async (kid: string) => bySecretKid.get(kid) ?? byPublicKid.get(kid) ?? (jwks && (await jwks.find(kid)))

  function remember (token: string, verify: Verify, kid: string | undefined, result: Verified): Verified {
    if (!result.ok || cacheSize === 0) return result
    if (verified.size >= cacheSize) verified.delete(verified.keys().next().value!)
    verified.set(token, { verify, kid, header: result.header, payload: result.payload, exp: (result.payload as { exp: number }).exp })
    return result
  }

  return {
    async verify (token) {
      const hit = verified.get(token)
      if (hit !== undefined) {
        // Only while the key that verified it still stands for its kid (a JWKS refetch makes new verifiers).
        const current = hit.kid === undefined ? hit.verify : await verifierOf(hit.kid)
        if (current === hit.verify) {
          if (hit.exp * 1000 > Date.now()) return { ok: true, header: hit.header, payload: hit.payload }
          verified.delete(token)
          return { ok: false, reason: 'expired' }
        }
        verified.delete(token)
      }
      const header = wellFormedHeader(token)
      if (header === null) return INVALID
      if (header.kid === undefined) {
        // Tokens from before tokens carried a kid (layout 1): HS256, tried against each secret only.
        let last = INVALID
        for (const verify of bySecretKid.values()) {
          last = run(verify, token)
          if (last.ok) return remember(token, verify, undefined, last)
          if (last.reason === 'expired') return last
        }
        return last
      }
      if (typeof header.kid !== 'string') return INVALID
      const verify = await verifierOf(header.kid)
      return verify ? remember(token, verify, header.kid, run(verify, token)) : INVALID
    },
  }
}

const DEFAULT_VERIFIED_CACHE_SIZE = 10_000

function listOf<T> (value: readonly T[] | undefined, name: string): readonly T[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new TypeError(`keys.${name}: an array`)
  return value
}

const STRICT_BASE64URL = /^[A-Za-z0-9_-]+$/
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * The header of a compact JWS that is well formed by the contract's rule (three strict base64url
 * parts, header and payload JSON objects in strict UTF-8, no BOM, no `crit`); null otherwise. Not
 * verified: only used to pick the key. fast-jwt alone would take padding, `+`/`/` and a BOM.
 */
function wellFormedHeader (token: string): Record<string, unknown> | null {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null
  const parts = token.split('.')
  if (parts.length !== 3 || !parts.every((part) => STRICT_BASE64URL.test(part) && part.length % 4 !== 1)) return null
  const [header, payload] = parts.slice(0, 2).map(jsonObject)
  if (!header || !payload) return null
  if ('crit' in header) return null // no extension is understood, so none may be required
  return header
}

function jsonObject (part: string): Record<string, unknown> | null {
  try {
    const text = utf8.decode(Buffer.from(part, 'base64url'))
    if (text.startsWith('\uFEFF')) return null
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null
  } catch {
    return null
  }
}

/** 127.0.0.0/8, [::1], localhost: as the WHATWG URL parser spells them (it normalises 127.1 and the like). */
const isLoopback = (hostname: string) => hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/** The JWKS decides which tokens verify: it must come over TLS, or from this machine while developing. */
function checkedJwksUrl (value: unknown): URL {
  let url: URL
  try {
    url = new URL(String(value))
  } catch {
    throw new TypeError('keys.jwksUrl: not a URL')
  }
  if (typeof value === 'string' && url.protocol === 'https:') return url
  const where = `${url.protocol}${url.host ? `//${url.host}` : ''}`
  if (url.protocol === 'http:' && isLoopback(url.hostname)) {
    if (process.env.NODE_ENV !== 'production') return url
    throw new TypeError(`keys.jwksUrl: ${where} is refused with NODE_ENV=production: fetch the JWKS over https:`)
  }
  throw new TypeError(`keys.jwksUrl: ${where} is refused: an https: URL (http: only to 127.0.0.1, [::1] or localhost, outside production)`)
}

/** The kid of a public key: its RFC 7638 thumbprint, computed as Gatehouse computes it (src/tokens/key-ring.ts). */
function thumbprint (jwk: JsonWebKey): string {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

/** One entry of `publicKeys`, or a TypeError saying what is wrong with it: a reader holds public keys only. */
function givenPublicKey (entry: string | JsonWebKey, i: number): { kid: string, key: KeyObject, algorithm: 'EdDSA' | 'RS256' } {
  const name = `keys.publicKeys[${i}]`
  const privateRefused = `${name} is a private key: a reader must hold public keys only (give the public half: openssl pkey -pubout)`
  let key: KeyObject
  if (typeof entry === 'string') {
    if (/PRIVATE KEY-----/.test(entry) || isPrivatePem(entry)) throw new TypeError(privateRefused)
    if ((entry.match(/-----BEGIN /g) ?? []).length !== 1 || !/-----BEGIN (RSA )?PUBLIC KEY-----/.test(entry)) {
      throw new TypeError(`${name}: one PEM public key (-----BEGIN PUBLIC KEY-----), or a public JWK`)
    }
    try {
      key = createPublicKey({ key: entry, format: 'pem' })
    } catch {
      throw new TypeError(`${name}: not a readable PEM public key`)
    }
  } else if (typeof entry === 'object' && entry !== null) {
    if (PRIVATE_MEMBERS.some((member) => member in entry)) throw new TypeError(privateRefused)
    if (entry.use !== undefined && entry.use !== 'sig') throw new TypeError(`${name}: not a signing key (use ${String(entry.use)})`)
    try {
      key = createPublicKey({ key: entry, format: 'jwk' })
    } catch {
      throw new TypeError(`${name}: not a readable public JWK`)
    }
  } else {
    throw new TypeError(`${name}: a PEM string or a public JWK`)
  }
  const algorithm = key.asymmetricKeyType === 'ed25519'
    ? 'EdDSA'
    : key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS ? 'RS256' : null
  if (algorithm === null) throw new TypeError(`${name}: Ed25519 (EdDSA) or RSA of at least ${MIN_RSA_BITS} bits (RS256) only`)
  const kid = thumbprint(key.export({ format: 'jwk' }))
  if (typeof entry === 'object') {
    if (entry.alg !== undefined && entry.alg !== algorithm) throw new TypeError(`${name}: alg ${String(entry.alg)} does not fit an ${algorithm} key`)
    if (entry.kid !== undefined && entry.kid !== kid) throw new TypeError(`${name}: kid ${String(entry.kid)} is not the key's RFC 7638 thumbprint (${kid}), which Gatehouse names it by`)
  }
  return { kid, key, algorithm }
}

function isPrivatePem (pem: string): boolean {
  try {
    createPrivateKey({ key: pem, format: 'pem' })
    return true
  } catch {
    return false
  }
}

/** Caps on what a JWKS answer may be: Gatehouse publishes a handful of keys. */
const MAX_JWKS_BYTES = 64 * 1024
const MAX_KEYS = 50
const MAX_CACHE_MS = 3600_000
const DEFAULT_CACHE_MS = 300_000
/** Members only a private or symmetric JWK has: a JWKS that publishes one is misconfigured. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

function jwksKeys (url: URL, options: VerificationKeys) {
  const minRefetchMs = options.minRefetchIntervalMs ?? 5000
  const maxStaleMs = options.maxStaleMs ?? 3600_000
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 5000

  let byKid = new Map<string, Verify>()
  let fetchedAt = -Infinity
  let freshUntil = -Infinity
  let inFlight: Promise<void> | null = null

  /** One fetch at a time; every caller waiting meanwhile shares it. */
  function refresh (): Promise<void> {
    inFlight ??= load().finally(() => { inFlight = null })
    return inFlight
  }

  async function load (): Promise<void> {
    fetchedAt = Date.now() // a failed attempt also counts against the refetch interval
    let keys: unknown
    let cacheControl: string | null
    try {
      const { body, headers } = await fetchJson(url, { headers: { accept: 'application/json' } }, {
        timeoutMs: fetchTimeoutMs,
        maxBytes: MAX_JWKS_BYTES,
        accept: (status) => status >= 200 && status < 300,
      })
      keys = typeof body === 'object' && body !== null ? (body as { keys?: unknown }).keys : undefined
      if (!Array.isArray(keys)) throw new Error('the JWKS has no keys array')
      cacheControl = headers.get('cache-control')
    } catch (err) {
      throw new ReaderUnavailableError('jwks', err)
    }
    const next = new Map<string, Verify>()
    for (const jwk of keys.slice(0, MAX_KEYS)) {
      const entry = usableKey(jwk)
      if (entry) next.set(entry.kid, verifierFor(entry.key.export({ format: 'pem', type: 'spki' }).toString(), entry.algorithm))
    }
    byKid = next
    freshUntil = fetchedAt + cacheMs(cacheControl)
  }

  return {
    /** The verifier of a kid, or null if the JWKS does not have it. Never waits for more than one fetch. */
    async find (kid: string): Promise<Verify | null> {
      // Keys fetched earlier stay usable for a while after their max-age: Gatehouse being briefly
      // unreachable should not sign everyone out. Past that, or with no keys at all, nothing verifies.
      const usable = () => byKid.size > 0 && Date.now() - freshUntil < maxStaleMs
      let waited = false
      // Refetched when the cache runs out, but never more often than minRefetchMs, failures included.
      if (Date.now() >= freshUntil && (inFlight !== null || Date.now() - fetchedAt >= minRefetchMs)) {
        const pending = refresh()
        if (usable()) {
          pending.catch(() => {}) // served from the keys at hand meanwhile; a failure is retried later
        } else {
          await pending // throws ReaderUnavailableError if it fails: there is nothing to fall back on
          waited = true
        }
      }
      if (!waited && Date.now() >= freshUntil && !usable()) {
        throw new ReaderUnavailableError('jwks', new Error('no current keys: the last fetch failed'))
      }
      // An unknown kid: the keys may have been rotated. Refetch (or wait for the fetch under way),
      // but not more often than allowed, and not twice for one token.
      if (!byKid.has(kid) && !waited && (inFlight !== null || Date.now() - fetchedAt >= minRefetchMs)) await refresh()
      return byKid.get(kid) ?? null
    },
  }
}

/**
 * One JWK's public key and the one algorithm it verifies, if it is a signing key Gatehouse would
 * publish: Ed25519 (EdDSA) or RSA of at least 2048 bits (RS256), public parts only. Null otherwise (skipped).
 */
function usableKey (jwk: unknown): { kid: string, key: KeyObject, algorithm: 'EdDSA' | 'RS256' } | null {
  if (typeof jwk !== 'object' || jwk === null) return null
  const fields = jwk as Record<string, unknown>
  const { kid, kty, crv, alg, use } = fields
  if (typeof kid !== 'string' || kid === '' || kid.length > 256) return null
  if (use !== undefined && use !== 'sig') return null
  if (PRIVATE_MEMBERS.some((member) => member in fields)) return null
  const algorithm = kty === 'OKP' && crv === 'Ed25519' ? 'EdDSA' : kty === 'RSA' ? 'RS256' : null
  if (algorithm === null || (alg !== undefined && alg !== algorithm)) return null
  try {
    const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
    if (algorithm === 'RS256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return null
    return { kid, key, algorithm }
  } catch {
    return null
  }
}

/** Cache-Control max-age, at most an hour; 5 minutes when absent. (Refetches are bounded by minRefetchIntervalMs.) */
function cacheMs (cacheControl: string | null): number {
  const match = /(?:^|,)\s*max-age=(\d+)/i.exec(cacheControl ?? '')
  if (!match) return DEFAULT_CACHE_MS
  return Math.min(MAX_CACHE_MS, Number(match[1]) * 1000)
}
