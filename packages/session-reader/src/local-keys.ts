import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { wellFormedHeader } from './jws.js'
import { INVALID, type KeyVerifier, PRIVATE_MEMBERS, pinnedKey, publicKeyAlgorithm, MIN_RSA_BITS, type Verified, verifyByKid } from './key-verifier.js'
import { secretKid } from './token.js'

/**
 * The key set held in memory (jose's createLocalJWKSet): every key given here, each named by its
 * `kid` and verifying with its own algorithm only. Gatehouse verifies its tokens with it, and a
 * reader with it and, beside it, the JWKS (remote-keys.ts). Synchronous: nothing is fetched.
 */

export type { KeyVerifier, Verified } from './key-verifier.js'

/** The keys a local key set is made of (the same members as the reader's `keys`). */
export interface LocalKeys {
  /**
   * EdDSA/RS256 public keys: PEM (SPKI) or public JWKs, Ed25519 or RSA of at least 2048 bits.
   * Each one's kid is its RFC 7638 thumbprint, as Gatehouse names it.
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
}

export interface LocalKeySet {
  /**
   * The signature of a well-formed token (the contract's rule), by the key its `kid` names, with
   * that key's algorithm, and its `exp`; a token without a `kid` is tried against the shared
   * secrets only, in their order. `header` is `wellFormedHeader(token)`, when the caller has it already.
   */
  verify(token: string, header?: Record<string, unknown> | null): Verified
  /** The key a kid names, if it is one of these. */
  keyOf(kid: string): KeyVerifier | undefined
  /** The shared secrets' keys, in the order given: what a token without a `kid` is tried against. */
  readonly sharedSecrets: readonly KeyVerifier[]
}

const MIN_SECRET_BYTES = 32

/** Throws a TypeError naming the key at fault: a private key, a short secret, a key of another kind. */
export function createLocalKeySet (keys: LocalKeys): LocalKeySet {
  if ((keys as { secrets?: unknown }).secrets !== undefined) {
    throw new TypeError(
      'keys.secrets is refused: whoever holds Gatehouse\'s HS256 secret can sign a token for any live session, an admin\'s included. ' +
      'Give keys.jwksUrl (Gatehouse\'s /.well-known/jwks.json) or keys.publicKeys, with Gatehouse signing with EdDSA or RS256; ' +
      'only where Gatehouse signs with HS256 and this service is trusted as much as Gatehouse, keys.unsafeSharedSecrets.'
    )
  }
  const secrets = listOf(keys.unsafeSharedSecrets, 'unsafeSharedSecrets')
  const publicKeys = listOf(keys.publicKeys, 'publicKeys')
  if (secrets.some((secret) => typeof secret !== 'string' || Buffer.byteLength(secret) < MIN_SECRET_BYTES)) {
    throw new TypeError(`keys.unsafeSharedSecrets: JWT_SECRET and JWT_PREVIOUS_SECRETS are each at least ${MIN_SECRET_BYTES} bytes`)
  }
  const bySecretKid = new Map(secrets.map((secret) => {
    const kid = secretKid(secret)
    return [kid, pinnedKey(kid, secret, 'HS256')]
  }))
  const byPublicKid = new Map(publicKeys.map((entry, i) => {
    const { kid, key, algorithm } = givenPublicKey(entry, i)
    return [kid, pinnedKey(kid, key.export({ format: 'pem', type: 'spki' }).toString(), algorithm)]
  }))
  const sharedSecrets = [...bySecretKid.values()]
  const keyOf = (kid: string) => bySecretKid.get(kid) ?? byPublicKid.get(kid)

  return {
    verify (token, header = wellFormedHeader(token)) {
      if (header === null) return INVALID
      const { kid } = header
      return verifyByKid(token, kid, typeof kid === 'string' ? keyOf(kid) : undefined, sharedSecrets)
    },
    keyOf,
    sharedSecrets,
  }
}

/** The kid of a public key: its RFC 7638 thumbprint, which any verifier can recompute (an HS256 secret's: token.ts, secretKid). */
export function publicKeyKid (jwk: JsonWebKey): string {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

export { MIN_RSA_BITS, publicKeyAlgorithm }

function listOf<T> (value: readonly T[] | undefined, name: string): readonly T[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new TypeError(`keys.${name}: an array`)
  return value
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
  const algorithm = publicKeyAlgorithm(key)
  if (algorithm === null) throw new TypeError(`${name}: Ed25519 (EdDSA) or RSA of at least ${MIN_RSA_BITS} bits (RS256) only`)
  const kid = publicKeyKid(key.export({ format: 'jwk' }))
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
