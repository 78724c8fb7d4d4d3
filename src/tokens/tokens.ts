import type { JsonWebKey } from 'node:crypto'
import { REQUIRED_CLAIMS, SESSION_ID_PATTERN, type SessionClaims, sessionClaimsOf, TOKEN_TYPE, unverifiedHeader } from '@gatehouse/session-reader/token'
import { createSigner, createVerifier, TokenError } from 'fast-jwt'
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

type Verify = (token: string) => { header: unknown, payload: unknown }
/** What verifying gave, and whether a shared secret did it while a private key signs. */
type Verified = { header: unknown, payload: unknown, formerSecret: boolean }

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

  // One verifier per key, each pinned to that key's algorithm: a token signed any other way
  // (alg "none", HS512, RS256 with a public key used as an HMAC secret...) is rejected before
  // its signature is even looked at.
  const byKid = new Map<string, Verify>()
  // The HS256 verifiers, in the ring's order: kid-less tokens are tried against each. With a private
  // key signing, every one of them is a former secret (a deployment moving off HS256).
  const hs256 = new Set<Verify>()
  const secretsAreFormer = ring.signing.algorithm !== 'HS256'
  for (const key of ring.verification) {
    const verify: Verify = createVerifier({
      key: key.key,
      algorithms: [key.algorithm],
      requiredClaims: REQUIRED_CLAIMS,
      complete: true,
    })
    byKid.set(key.kid, verify)
    if (key.algorithm === 'HS256') hs256.add(verify)
  }
  const run = (verify: Verify, token: string): Verified => ({ ...verify(token), formerSecret: secretsAreFormer && hs256.has(verify) })

  function verifyWithRing (token: string): Verified {
    const header = unverifiedHeader(token)
    if (header === null) throw errors.invalidToken()
    const kid = header.kid
    if (kid === undefined) {
      // Tokens issued before tokens carried a kid: HS256, signed by the current or a previous secret.
      for (const verify of hs256) {
        try {
          return run(verify, token)
        } catch (err) {
          if (!(err instanceof TokenError && err.code === TokenError.codes.invalidSignature)) throw err
        }
      }
      throw errors.invalidToken()
    }
    const verify = typeof kid === 'string' ? byKid.get(kid) : undefined
    if (!verify) throw errors.invalidToken()
    return run(verify, token)
  }

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
    let verified: Verified
    try {
      verified = verifyWithRing(token)
    } catch (err) {
      if (err instanceof TokenError && err.code === TokenError.codes.expired) throw errors.expiredSession({ reason: 'max_age' })
      throw errors.invalidToken()
    }
    const claims = sessionClaimsOf(verified.header, verified.payload, { issuer: config.issuer, acceptUntyped: untypedOpen() })
    if (!claims) throw errors.invalidToken()
    const frozen = Object.freeze(claims)
    if (verified.formerSecret) byFormerSecret.add(frozen)
    return frozen
  }
}
