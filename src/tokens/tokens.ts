import type { JsonWebKey } from 'node:crypto'
import { createLocalKeySet } from '@gatehouse/session-reader/local-keys'
import { SESSION_ID_PATTERN, type SessionClaims, sessionClaimsOf, TOKEN_TYPE } from '@gatehouse/session-reader/token'
import { createSigner } from 'fast-jwt'
import type { JwtConfig } from '../config/jwt.js'
import { errors, isUnauthenticated } from '../shared/errors.js'
import { createKeyRing } from './key-ring.js'

// What a token is beyond its signature (typ, iss, the claims' shapes) is defined once, in the
// session reader library, so that other services accept exactly the tokens Gatehouse accepts.
export { SESSION_ID_PATTERN, type SessionClaims }

export interface TokenService {
  /** Signs the claims, naming JWT_ISSUER as `iss` and typed gatehouse-session+jwt. */
  sign(claims: Omit<SessionClaims, 'iss'>): string
  /** The claims of a genuine, unexpired token; throws `invalid_token` or `session_expired` otherwise. */
  verify(token: string): SessionClaims
  /** The same check without throwing: the claims, or null for any token that is not genuine and current. */
  check(token: string): SessionClaims | null
  /** The public keys other services verify tokens with (empty when only HS256 secrets are in use). */
  jwks: { keys: JsonWebKey[] }
  /**
   * For claims `verify` or `check` returned: which session they reach and under which client's
   * policy (its audience), and what tells why it ended (created_at, exp as Unix ms): the session
   * store's Reach. `createdBefore` bounds the claims a former HS256 secret signed while Gatehouse
   * signs with a private key: whoever still holds that secret can sign any claims, so its tokens
   * reach only sessions that existed when the private key took over (undefined: no bound).
   */
  reachOf(claims: SessionClaims): { createdBefore?: number, audience: string | null, createdAt: number, expiresAt: number }
}

export interface TokenServiceOptions {
  /**
   * Whether tokens from before tokens were typed may pass now: JWT_ACCEPT_UNTYPED and the window
   * recorded in Redis (sessions/token-windows.ts). Closed when not given.
   */
  untypedOpen?: () => boolean
  /** Sessions created at or after this (Unix ms) are out of reach of a former HS256 secret's tokens (sessions/token-windows.ts). 0 when not given. */
  sharedSecretSessionsBefore?: () => number
}

export function createTokenService (config: JwtConfig, { untypedOpen = () => false, sharedSecretSessionsBefore = () => 0 }: TokenServiceOptions = {}): TokenService {
  const ring = createKeyRing(config)
  // Built once: fast-jwt prepares each key here, not per request. iat and exp come from the
  // session (Redis clock); fast-jwt keeps the ones in the payload.
  const signer = createSigner({ key: ring.signing.key, algorithm: ring.signing.algorithm, kid: ring.signing.kid, header: { alg: ring.signing.algorithm, typ: TOKEN_TYPE }, iss: config.issuer })

  // Verification is the session reader library's, as other services verify: the key the token's
  // kid names, pinned to that key's algorithm (alg "none", HS512, RS256 with a public key used as
  // an HMAC secret... are rejected before the signature is even looked at), a kid-less token tried
  // against the secrets only. Each key is prepared here, once. With a private key signing, every
  // secret is a former one (a deployment moving off HS256).
  const keys = createLocalKeySet(ring.verification)
  const secretsAreFormer = ring.signing.algorithm !== 'HS256'

  // Tokens already verified, by their exact text: a hit skips the header parse, the HMAC and
  // fast-jwt's own cache (which hashes every token it looks up). Only the signature check is
  // skipped; exp is checked on every hit, and the session itself in Redis on every request.
  const verified = new Map<string, SessionClaims>()
  /** The claims (cached by identity) that a former shared secret verified. */
  const byFormerSecret = new WeakSet<SessionClaims>()

  function verify (token: string): SessionClaims {
    const cached = verified.get(token)
    if (cached !== undefined) {
      if (cached.iss === undefined && !untypedOpen()) throw errors.invalidToken() // the untyped window closed since
      if (cached.exp * 1000 > Date.now()) return cached
      verified.delete(token)
      throw errors.expiredSession({ reason: 'max_age' })
    }
    const claims = verifyFresh(token)
    // Bounded: past the limit the oldest entry goes (a Map keeps insertion order).
    if (config.verifiedCacheSize === 0) return claims
    if (verified.size >= config.verifiedCacheSize) verified.delete(verified.keys().next().value!)
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
    reachOf: (claims) => ({
      createdBefore: byFormerSecret.has(claims) ? sharedSecretSessionsBefore() : undefined,
      audience: claims.aud ?? null,
      createdAt: claims.created_at,
      expiresAt: claims.exp * 1000,
    }),
  }

  function verifyFresh (token: string): SessionClaims {
    const verified = keys.verify(token)
    if (!verified.ok) throw verified.reason === 'expired' ? errors.expiredSession({ reason: 'max_age' }) : errors.invalidToken()
    const claims = sessionClaimsOf(verified.header, verified.payload, { issuer: config.issuer, acceptUntyped: untypedOpen() })
    if (!claims) throw errors.invalidToken()
    const frozen = Object.freeze(claims)
    if (secretsAreFormer && verified.key.algorithm === 'HS256') byFormerSecret.add(frozen)
    return frozen
  }
}
