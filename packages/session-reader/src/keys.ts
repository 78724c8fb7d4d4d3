import { createPublicKey, type KeyObject } from 'node:crypto'
import { type Algorithm, createVerifier, TokenError } from 'fast-jwt'
import { secretKid, unverifiedHeader } from './token.js'
import { ReaderUnavailableError } from './errors.js'

/** The keys tokens are verified with: the deployment's HS256 secrets, or its JWKS. */
export type VerificationKeys =
  | {
    algorithm: 'HS256'
    /** JWT_SECRET first, then JWT_PREVIOUS_SECRETS: tokens any of them signed verify. */
    secrets: readonly string[]
  }
  | {
    algorithm: 'EdDSA' | 'RS256'
    /** Gatehouse's `/.well-known/jwks.json`. */
    jwksUrl: string
    /** An unknown `kid` refetches the JWKS, at most this often (default 30 s): random kids cannot flood Gatehouse. */
    minRefetchIntervalMs?: number
    /** How long fetched keys stay usable when Gatehouse cannot be reached to refresh them (default 1 h). */
    maxStaleMs?: number
    /** Time limit of one fetch (default 5 s). */
    fetchTimeoutMs?: number
  }

/** What verifying a token's signature gave. */
export type Verified =
  | { ok: true, header: unknown, payload: unknown }
  | { ok: false, reason: 'invalid_token' | 'expired' }

export interface KeySet {
  verify(token: string): Promise<Verified>
}

type Verify = (token: string) => { header: unknown, payload: unknown }

/** One fast-jwt verifier per key, pinned to that key's algorithm: alg "none", HS512 or a public key used as an HMAC secret never pass. */
function verifierFor (key: string | KeyObject, algorithm: Algorithm): Verify {
  return createVerifier({
    key: typeof key === 'string' ? key : key.export({ format: 'pem', type: 'spki' }).toString(),
    algorithms: [algorithm],
    requiredClaims: ['jti', 'user_id', 'created_at', 'iat', 'exp'],
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

export function createKeySet (keys: VerificationKeys): KeySet {
  if (keys.algorithm === 'HS256') return hs256(keys.secrets)
  if (keys.algorithm === 'EdDSA' || keys.algorithm === 'RS256') return jwks(keys)
  throw new TypeError(`unsupported algorithm ${String((keys as { algorithm: unknown }).algorithm)}`)
}

function hs256 (secrets: readonly string[]): KeySet {
  if (secrets.length === 0 || secrets.some((secret) => typeof secret !== 'string' || Buffer.byteLength(secret) < 32)) {
    throw new TypeError('keys.secrets: give JWT_SECRET (and JWT_PREVIOUS_SECRETS), each at least 32 bytes')
  }
  const byKid = new Map(secrets.map((secret) => [secretKid(secret), verifierFor(secret, 'HS256')]))
  const all = [...byKid.values()]
  return {
    async verify (token) {
      const header = unverifiedHeader(token)
      if (header === null) return { ok: false, reason: 'invalid_token' }
      if (header.kid === undefined) {
        // Tokens from before tokens carried a kid: try each secret.
        let last: Verified = { ok: false, reason: 'invalid_token' }
        for (const verify of all) {
          last = run(verify, token)
          if (last.ok || last.reason === 'expired') return last
        }
        return last
      }
      const verify = typeof header.kid === 'string' ? byKid.get(header.kid) : undefined
      return verify ? run(verify, token) : { ok: false, reason: 'invalid_token' }
    },
  }
}

/** Caps on what a JWKS answer may be: Gatehouse publishes a handful of keys. */
const MAX_JWKS_BYTES = 64 * 1024
const MAX_KEYS = 50
const MAX_CACHE_MS = 3600_000
const DEFAULT_CACHE_MS = 300_000

function jwks (options: Extract<VerificationKeys, { jwksUrl: string }>): KeySet {
  const { algorithm, jwksUrl } = options
  const url = new URL(jwksUrl) // throws at construction on a malformed URL
  const minRefetchMs = options.minRefetchIntervalMs ?? 30_000
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
    const attemptedAt = Date.now()
    let response: Response
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(fetchTimeoutMs), headers: { accept: 'application/json' }, redirect: 'error' })
    } catch (err) {
      fetchedAt = attemptedAt // a failed attempt also counts against the refetch interval
      throw new ReaderUnavailableError('jwks', err)
    }
    fetchedAt = attemptedAt
    const text = await boundedText(response)
    if (!response.ok || text === null) throw new ReaderUnavailableError('jwks', new Error(`GET ${url.href}: ${response.status}${text === null ? ', answer too large' : ''}`))
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new ReaderUnavailableError('jwks', err)
    }
    const keys = (parsed as { keys?: unknown }).keys
    if (!Array.isArray(keys)) throw new ReaderUnavailableError('jwks', new Error('the JWKS has no keys array'))
    const next = new Map<string, Verify>()
    for (const jwk of keys.slice(0, MAX_KEYS)) {
      const entry = usableKey(jwk, algorithm)
      if (entry) next.set(entry.kid, verifierFor(entry.key, algorithm))
    }
    byKid = next
    freshUntil = attemptedAt + cacheMs(response.headers.get('cache-control'))
  }

  return {
    async verify (token) {
      const header = unverifiedHeader(token)
      if (header === null || typeof header.kid !== 'string') return { ok: false, reason: 'invalid_token' }
      if (Date.now() >= freshUntil) {
        let refreshed = false
        let failure: unknown = null
        // Refetched when the cache runs out, but never more often than minRefetchMs, failures included.
        if (Date.now() - fetchedAt >= minRefetchMs) {
          try {
            await refresh()
            refreshed = true
          } catch (err) {
            failure = err
          }
        }
        // Keys fetched earlier stay usable for a while: Gatehouse being briefly unreachable should
        // not sign everyone out. Past that, or with no keys at all, nothing is verified.
        if (!refreshed && (byKid.size === 0 || Date.now() - freshUntil >= maxStaleMs)) {
          throw failure ?? new ReaderUnavailableError('jwks', new Error('no current keys: the last fetch failed'))
        }
      }
      let verify = byKid.get(header.kid)
      // An unknown kid: the keys may have been rotated. Refetch, but not more often than allowed.
      if (!verify && Date.now() - fetchedAt >= minRefetchMs) {
        await refresh()
        verify = byKid.get(header.kid)
      }
      return verify ? run(verify, token) : { ok: false, reason: 'invalid_token' }
    },
  }
}

/** The key of one JWK if it is a signing key of the pinned algorithm; null otherwise (skipped). */
function usableKey (jwk: unknown, algorithm: 'EdDSA' | 'RS256'): { kid: string, key: KeyObject } | null {
  if (typeof jwk !== 'object' || jwk === null) return null
  const { kid, kty, crv, alg, use } = jwk as Record<string, unknown>
  if (typeof kid !== 'string' || kid === '') return null
  if (alg !== undefined && alg !== algorithm) return null
  if (use !== undefined && use !== 'sig') return null
  if (algorithm === 'EdDSA' ? kty !== 'OKP' || crv !== 'Ed25519' : kty !== 'RSA') return null
  try {
    const key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' })
    if (key.type !== 'public') return null // a JWK with private parts is not what a JWKS publishes
    if (algorithm === 'RS256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return null
    return { kid, key }
  } catch {
    return null
  }
}

/** The answer's body, or null past MAX_JWKS_BYTES. */
async function boundedText (response: Response): Promise<string | null> {
  if (!response.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > MAX_JWKS_BYTES) return null
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Cache-Control max-age, at most an hour; 5 minutes when absent. (Refetches are bounded by minRefetchIntervalMs.) */
function cacheMs (cacheControl: string | null): number {
  const match = /(?:^|,)\s*max-age=(\d+)/i.exec(cacheControl ?? '')
  if (!match) return DEFAULT_CACHE_MS
  return Math.min(MAX_CACHE_MS, Number(match[1]) * 1000)
}
