import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { type LocalKeys, publicKeyAlgorithm, publicKeyKid } from '@gatehouse/session-reader/local-keys'
import { secretKid } from '@gatehouse/session-reader/token'
import type { JwtAlgorithm, JwtConfig } from '../config/jwt.js'

export interface KeyRing {
  /** Signs every new token: JWT_SECRET, or JWT_PRIVATE_KEY. */
  signing: { kid: string; algorithm: JwtAlgorithm; key: string }
  /**
   * What tokens are verified with: the signing key (its public half) and the previous keys, for
   * the session reader library's local key set, which names each by its kid and pins it to its
   * algorithm as readers do. The secrets in order: the current one first.
   */
  verification: { publicKeys: string[]; unsafeSharedSecrets: string[] }
  /** The public keys (current and previous) as a JWK Set (RFC 7517). */
  jwks: { keys: JsonWebKey[] }
}

// A key's kid (publicKeyKid: its RFC 7638 thumbprint; secretKid: an HMAC of a label) is defined in
// the session reader library, which picks the key by it, in Gatehouse as in other services.

/** A public key as PEM (SPKI), and as the JWKS lists it: under its kid, with its one algorithm. */
function publicKey (pem: string): { pem: string; kid: string; jwk: JsonWebKey } {
  const key = createPublicKey(pem)
  const algorithm = publicKeyAlgorithm(key)
  if (!algorithm) throw new Error('unsupported public key') // config/jwt.ts has already refused it
  const jwk = key.export({ format: 'jwk' })
  const kid = publicKeyKid(jwk)
  return { pem: key.export({ format: 'pem', type: 'spki' }).toString(), kid, jwk: { ...jwk, kid, alg: algorithm, use: 'sig' } }
}

export function createKeyRing (config: JwtConfig): KeyRing {
  const publicKeys: string[] = []
  const jwks: JsonWebKey[] = []
  let signing: KeyRing['signing']

  if (config.algorithm === 'HS256') {
    signing = { kid: secretKid(config.signingKey), algorithm: 'HS256', key: config.signingKey }
  } else {
    const { pem, kid, jwk } = publicKey(config.signingKey)
    signing = { kid, algorithm: config.algorithm, key: config.signingKey }
    publicKeys.push(pem)
    jwks.push(jwk)
  }
  for (const pem of config.previousPublicKeys) {
    const entry = publicKey(pem)
    publicKeys.push(entry.pem)
    jwks.push(entry.jwk)
  }
  const unsafeSharedSecrets = [...(config.algorithm === 'HS256' ? [config.signingKey] : []), ...config.previousSecrets]

  // The same key listed twice (e.g. current also among previous) is published once (and verified
  // once: the local key set keeps one key per kid).
  const uniqueJwks = jwks.filter((key, i) => jwks.findIndex((other) => other.kid === key.kid) === i)
  return { signing, verification: { publicKeys, unsafeSharedSecrets } satisfies LocalKeys, jwks: { keys: uniqueJwks } }
}
