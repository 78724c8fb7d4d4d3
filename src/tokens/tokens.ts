import { createSigner, createVerifier, TokenError } from 'fast-jwt'
import { errors } from '../http/errors.js'

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
  /** Returns the claims of a genuine, unexpired token; throws a 401 AppError otherwise. */
  verify(token: string): SessionClaims
}

/** 128 random bits, base64url: the only shape of session id Gatehouse ever issues. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/

// Pinned: a token signed any other way (alg "none", HS512, RS256 with the secret as a "public key"...)
// is rejected before its signature is even looked at.
const ALGORITHM = 'HS256'

export function createTokenService(secret: string): TokenService {
  // Built once: fast-jwt prepares the key here, not per request.
  // iat and exp come from the session (Redis clock); fast-jwt keeps the ones in the payload.
  const signer = createSigner({ key: secret, algorithm: ALGORITHM })
  const verifier = createVerifier({
    key: secret,
    algorithms: [ALGORITHM],
    requiredClaims: ['jti', 'user_id', 'created_at', 'iat', 'exp'],
    // A verified token's claims are cached until its exp; only the signature check is skipped,
    // the session itself is still checked in Redis on every request.
    cache: 10_000,
  })

  return {
    sign: (claims) => signer({ ...claims }),
    verify(token) {
      let payload: unknown
      try {
        payload = verifier(token)
      } catch (err) {
        if (err instanceof TokenError && err.code === TokenError.codes.expired) throw errors.expiredSession()
        throw errors.invalidToken()
      }
      if (!isSessionClaims(payload)) throw errors.invalidToken()
      return payload
    },
  }
}

function isSessionClaims(payload: unknown): payload is SessionClaims {
  if (typeof payload !== 'object' || payload === null) return false
  const claims = payload as Record<string, unknown>
  return (
    typeof claims.jti === 'string' &&
    SESSION_ID_PATTERN.test(claims.jti) &&
    typeof claims.user_id === 'string' &&
    claims.user_id.length > 0 &&
    Number.isSafeInteger(claims.created_at) &&
    Number.isSafeInteger(claims.iat) &&
    Number.isSafeInteger(claims.exp)
  )
}
