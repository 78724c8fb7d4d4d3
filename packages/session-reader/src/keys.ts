import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { type Algorithm, createVerifier, TokenError } from 'fast-jwt'
import { fetchJson } from './fetch-json.js'
import { ReaderUnavailableError } from './errors.js'
import { REQUIRED_CLAIMS, secretKid, unverifiedHeader } from './token.js'

/**
 * The keys tokens are verified with, as Gatehouse's key ring holds them: its HS256 secrets, its
 * JWKS (EdDSA and RS256 public keys), or both while a deployment moves from one to the other.
 * Each key is verified with its own algorithm only, whatever the token's header says.
 */
export interface VerificationKeys {
  /** HS256: JWT_SECRET first, then JWT_PREVIOUS_SECRETS. Each at least 32 bytes. */
  secrets?: readonly string[]
  /** EdDSA/RS256: Gatehouse's `/.well-known/jwks.json`. */
  jwksUrl?: string
  /** An unknown `kid` refetches the JWKS, at most this often (default 5 s): forged kids cannot flood Gatehouse. */
  minRefetchIntervalMs?: number
  /** How long fetched keys stay usable when Gatehouse cannot be reached to refresh them (default 1 h). */
  maxStaleMs?: number
  /** Time limit of one fetch, body included (default 5 s). */
  fetchTimeoutMs?: number
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

export function createKeySet (keys: VerificationKeys): KeySet {
  const secrets = keys.secrets ?? []
  if (secrets.length === 0 && keys.jwksUrl === undefined) throw new TypeError('keys: give secrets (HS256), a jwksUrl (EdDSA/RS256), or both')
  if (secrets.some((secret) => typeof secret !== 'string' || Buffer.byteLength(secret) < 32)) {
    throw new TypeError('keys.secrets: JWT_SECRET and JWT_PREVIOUS_SECRETS are each at least 32 bytes')
  }
  const bySecretKid = new Map(secrets.map((secret) => [secretKid(secret), verifierFor(secret, 'HS256')]))
  const jwks = keys.jwksUrl === undefined ? null : jwksKeys(keys.jwksUrl, keys)

  return {
    async verify (token) {
      const header = unverifiedHeader(token)
      if (header === null) return INVALID
      if (header.kid === undefined) {
        // Tokens from before tokens carried a kid (layout 1): HS256, tried against each secret.
        let last = INVALID
        for (const verify of bySecretKid.values()) {
          last = run(verify, token)
          if (last.ok || last.reason === 'expired') return last
        }
        return last
      }
      if (typeof header.kid !== 'string') return INVALID
      const verify = bySecretKid.get(header.kid) ?? (jwks && (await jwks.find(header.kid)))
      return verify ? run(verify, token) : INVALID
    },
  }
}

/** Caps on what a JWKS answer may be: Gatehouse publishes a handful of keys. */
const MAX_JWKS_BYTES = 64 * 1024
const MAX_KEYS = 50
const MAX_CACHE_MS = 3600_000
const DEFAULT_CACHE_MS = 300_000
/** Members only a private or symmetric JWK has: a JWKS that publishes one is misconfigured. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

function jwksKeys (jwksUrl: string, options: VerificationKeys) {
  const url = new URL(jwksUrl) // throws at construction on a malformed URL
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
