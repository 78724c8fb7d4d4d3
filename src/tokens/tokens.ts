import type { JsonWebKey } from 'node:crypto'
import { createSigner, createVerifier, TokenError } from 'fast-jwt'
import type { JwtConfig } from '../config/jwt.js'
import { errors, isUnauthenticated } from '../shared/errors.js'
import { isUserId } from '../shared/user-id.js'
import { createKeyRing } from './key-ring.js'

/** The claims of a Gatehouse token (docs/session-contract.md, "Token"). */
export interface SessionClaims {
  /** The session id: the Redis key is `<prefix>sess:<jti>`. */
  jti: string
  user_id: string
  /** Unix milliseconds when the session was created (Redis clock). */
  created_at: number
  /** Unix seconds. */
  iat: number
  /** Unix seconds: the session's absolute end (SESSION_MAX_AGE_SECONDS after creation). */
  exp: number
}

export interface TokenService {
  sign(claims: SessionClaims): string
  /** The claims of a genuine, unexpired token; throws `invalid_token` or `session_expired` otherwise. */
  verify(token: string): SessionClaims
  /** The same check without throwing: the claims, or null for any token that is not genuine and current. */
  check(token: string): SessionClaims | null
  /** The public keys other services verify tokens with (empty when only HS256 secrets are in use). */
  jwks: { keys: JsonWebKey[] }
}

/** 128 random bits, base64url: the only shape of session id Gatehouse ever issues. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/

type Verify = (token: string) => unknown

/** How many verified tokens each instance remembers (about 0.5 KB each). */
const VERIFIED_CACHE_SIZE = 10_000

export function createTokenService (config: JwtConfig): TokenService {
  const ring = createKeyRing(config)
  // Built once: fast-jwt prepares each key here, not per request. iat and exp come from the
  // session (Redis clock); fast-jwt keeps the ones in the payload.
  const signer = createSigner({ key: ring.signing.key, algorithm: ring.signing.algorithm, kid: ring.signing.kid })

  // One verifier per key, each pinned to that key's algorithm: a token signed any other way
  // (alg "none", HS512, RS256 with a public key used as an HMAC secret...) is rejected before
  // its signature is even looked at.
  const byKid = new Map<string, Verify>()
  const legacy: Verify[] = []
  for (const key of ring.verification) {
    const verify = createVerifier({
      key: key.key,
      algorithms: [key.algorithm],
      requiredClaims: ['jti', 'user_id', 'created_at', 'iat', 'exp'],
    })
    byKid.set(key.kid, verify)
    if (key.algorithm === 'HS256') legacy.push(verify)
  }

  function verifyWithRing (token: string): unknown {
    const kid = headerKid(token)
    if (kid === undefined) {
      // Tokens issued before tokens carried a kid: HS256, signed by the current or a previous secret.
      for (const verify of legacy) {
        try {
          return verify(token)
        } catch (err) {
          if (!(err instanceof TokenError && err.code === TokenError.codes.invalidSignature)) throw err
        }
      }
      throw errors.invalidToken()
    }
    const verify = typeof kid === 'string' ? byKid.get(kid) : undefined
    if (!verify) throw errors.invalidToken()
    return verify(token)
  }

  // Tokens already verified, by their exact text: a hit skips the header parse, the HMAC and
  // fast-jwt's own cache (which hashes every token it looks up). Only the signature check is
  // skipped; exp is checked on every hit, and the session itself in Redis on every request.
  const verified = new Map<string, SessionClaims>()

  function verify (token: string): SessionClaims {
    const cached = verified.get(token)
    if (cached !== undefined) {
      if (cached.exp * 1000 > Date.now()) return cached
      verified.delete(token)
      throw errors.expiredSession()
    }
    const claims = verifyFresh(token)
    // Bounded: past the limit the oldest entry goes (a Map keeps insertion order).
    if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!)
    verified.set(token, claims)
    return claims
  }

  return {
    sign: (claims) => signer({ ...claims }),
    verify,
    check (token) {
      try {
        return verify(token)
      } catch (err) {
        if (isUnauthenticated(err)) return null
        throw err
      }
    },
    jwks: ring.jwks,
  }

  function verifyFresh (token: string): SessionClaims {
    let payload: unknown
    try {
      payload = verifyWithRing(token)
    } catch (err) {
      if (err instanceof TokenError && err.code === TokenError.codes.expired) throw errors.expiredSession()
      throw errors.invalidToken()
    }
    if (!isSessionClaims(payload)) throw errors.invalidToken()
    return Object.freeze(payload)
  }
}

/** The header's kid (undefined when absent); anything unreadable is an invalid token. */
function headerKid (token: string): unknown {
  const end = token.indexOf('.')
  if (end <= 0) throw errors.invalidToken()
  let header: unknown
  try {
    header = JSON.parse(Buffer.from(token.slice(0, end), 'base64url').toString('utf8'))
  } catch {
    throw errors.invalidToken()
  }
  if (typeof header !== 'object' || header === null) throw errors.invalidToken()
  return (header as { kid?: unknown }).kid
}

function isSessionClaims (payload: unknown): payload is SessionClaims {
  if (typeof payload !== 'object' || payload === null) return false
  const claims = payload as Record<string, unknown>
  return (
    typeof claims.jti === 'string' &&
    SESSION_ID_PATTERN.test(claims.jti) &&
    // Only Gatehouse signs tokens, always with the id PostgreSQL returned; a token that spells it
    // any other way would name other Redis keys (user-id.ts), so it is refused outright.
    isUserId(claims.user_id) &&
    Number.isSafeInteger(claims.created_at) &&
    Number.isSafeInteger(claims.iat) &&
    Number.isSafeInteger(claims.exp)
  )
}
