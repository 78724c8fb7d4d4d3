import { createHash, createPublicKey, type JsonWebKey } from 'node:crypto'
import { secretKid } from '@gatehouse/session-reader/token'
import { algorithmOf, type JwtAlgorithm, type JwtConfig } from '../config/jwt.js'

/** One key tokens may be verified with. */
export interface VerificationKey {
  kid: string
  algorithm: JwtAlgorithm
  /** The HS256 secret, or the public key as PEM. */
  key: string
}

export interface KeyRing {
  /** Signs every new token: JWT_SECRET, or JWT_PRIVATE_KEY. */
  signing: { kid: string; algorithm: JwtAlgorithm; key: string }
  /** The signing key's own verifier first, then the previous keys. */
  verification: VerificationKey[]
  /** The public keys (current and previous) as a JWK Set (RFC 7517). */
  jwks: { keys: JsonWebKey[] }
}

// The kid of an HS256 secret (secretKid) is defined in the session reader library, which picks
// the secret by it in other services.

/** The kid of a public key: its RFC 7638 JWK thumbprint, which any verifier can recompute. */
function thumbprint (jwk: JsonWebKey): string {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

function publicKey (pem: string): { entry: VerificationKey; jwk: JsonWebKey } {
  const key = createPublicKey(pem)
  const algorithm = algorithmOf(key)
  if (!algorithm) throw new Error('unsupported public key') // config/jwt.ts has already refused it
  const jwk = key.export({ format: 'jwk' })
  const kid = thumbprint(jwk)
  return { entry: { kid, algorithm, key: key.export({ format: 'pem', type: 'spki' }).toString() }, jwk: { ...jwk, kid, alg: algorithm, use: 'sig' } }
}

export function createKeyRing (config: JwtConfig): KeyRing {
  const verification: VerificationKey[] = []
  const jwks: JsonWebKey[] = []
  let signing: KeyRing['signing']

  if (config.algorithm === 'HS256') {
    const kid = secretKid(config.signingKey)
    signing = { kid, algorithm: 'HS256', key: config.signingKey }
    verification.push({ kid, algorithm: 'HS256', key: config.signingKey })
  } else {
    const { entry, jwk } = publicKey(config.signingKey)
    signing = { kid: entry.kid, algorithm: config.algorithm, key: config.signingKey }
    verification.push(entry)
    jwks.push(jwk)
  }
  for (const secret of config.previousSecrets) verification.push({ kid: secretKid(secret), algorithm: 'HS256', key: secret })
  for (const pem of config.previousPublicKeys) {
    const { entry, jwk } = publicKey(pem)
    verification.push(entry)
    jwks.push(jwk)
  }

  // The same key listed twice (e.g. current also among previous) is verified once.
  const unique = verification.filter((key, i) => verification.findIndex((other) => other.kid === key.kid) === i)
  const uniqueJwks = jwks.filter((key, i) => jwks.findIndex((other) => other.kid === key.kid) === i)
  return { signing, verification: unique, jwks: { keys: uniqueJwks } }
}
