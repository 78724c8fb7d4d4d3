import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { fetchJson } from './fetch-json.js'
import { ReaderUnavailableError } from './errors.js'
import { wellFormedHeader } from './jws.js'
import { INVALID, type KeyVerifier, PRIVATE_MEMBERS, pinnedKey, publicKeyAlgorithm, type Verified, verifyByKid } from './key-verifier.js'

/**
 * The key set behind Gatehouse's `/.well-known/jwks.json` (jose's createRemoteJWKSet): fetched,
 * cached and refetched as the options say, each key pinned to its own algorithm. A token needs a
 * `kid` here: only a shared secret verifies one without (local-keys.ts).
 */

export type { KeyVerifier, Verified } from './key-verifier.js'

/** Where the JWKS is, and how it is fetched (the same members as the reader's `keys`). */
export interface RemoteKeys {
  /** EdDSA/RS256: Gatehouse's `/.well-known/jwks.json`. https: only (http: to a loopback host outside production). */
  jwksUrl: string
  /** An unknown `kid` refetches the JWKS, at most this often (default 5 s): forged kids cannot flood Gatehouse. */
  minRefetchIntervalMs?: number
  /** How long fetched keys stay usable when Gatehouse cannot be reached to refresh them (default 1 h). */
  maxStaleMs?: number
  /** Time limit of one fetch, body included (default 5 s). */
  fetchTimeoutMs?: number
}

export interface RemoteKeySet {
  /**
   * As the local key set verifies (local-keys.ts), with the key the JWKS has for the token's
   * `kid`. Throws ReaderUnavailableError when the JWKS is needed and cannot be had.
   */
  verify(token: string, header?: Record<string, unknown> | null): Promise<Verified>
  /** The key the JWKS has for a kid, or null. Never waits for more than one fetch; throws ReaderUnavailableError as `verify` does. */
  keyOf(kid: string): Promise<KeyVerifier | null>
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

/** Caps on what a JWKS answer may be: Gatehouse publishes a handful of keys. */
const MAX_JWKS_BYTES = 64 * 1024
const MAX_KEYS = 50
const MAX_CACHE_MS = 3600_000
const DEFAULT_CACHE_MS = 300_000

/** Throws a TypeError for a `jwksUrl` that is not https: (or loopback http: outside production). */
export function createRemoteKeySet (options: RemoteKeys): RemoteKeySet {
  const url = checkedJwksUrl(options.jwksUrl)
  const minRefetchMs = options.minRefetchIntervalMs ?? 5000
  const maxStaleMs = options.maxStaleMs ?? 3600_000
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 5000

  let byKid = new Map<string, KeyVerifier>()
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
    const next = new Map<string, KeyVerifier>()
    for (const jwk of keys.slice(0, MAX_KEYS)) {
      const entry = usableKey(jwk)
      if (entry) next.set(entry.kid, pinnedKey(entry.kid, entry.pem, entry.algorithm))
    }
    byKid = next
    freshUntil = fetchedAt + cacheMs(cacheControl)
  }

  async function keyOf (kid: string): Promise<KeyVerifier | null> {
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
  }

  return {
    async verify (token, header = wellFormedHeader(token)) {
      if (header === null || typeof header.kid !== 'string') return INVALID
      return verifyByKid(token, header.kid, await keyOf(header.kid), [])
    },
    keyOf,
  }
}

/**
 * One JWK's public key (as PEM) and the one algorithm it verifies, if it is a signing key Gatehouse
 * would publish: Ed25519 (EdDSA) or RSA of at least 2048 bits (RS256), public parts only. Null otherwise (skipped).
 */
function usableKey (jwk: unknown): { kid: string, pem: string, algorithm: 'EdDSA' | 'RS256' } | null {
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
    // The key itself must be what its members claim: Ed25519, or RSA of at least 2048 bits.
    if (publicKeyAlgorithm(key) !== algorithm) return null
    return { kid, pem: key.export({ format: 'pem', type: 'spki' }).toString(), algorithm }
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
