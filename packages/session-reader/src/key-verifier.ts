import type { KeyObject } from 'node:crypto'
import { type Algorithm, createVerifier, TokenError } from 'fast-jwt'
import { REQUIRED_CLAIMS } from './token.js'

/**
 * One key tokens are verified with, named by its `kid` and pinned to its one algorithm: alg
 * "none", HS512 or a public key used as an HMAC secret never pass, whatever the token's header says.
 */
export interface KeyVerifier {
  readonly kid: string
  readonly algorithm: 'HS256' | 'EdDSA' | 'RS256'
  /** fast-jwt's verifier for this key alone; throws on any token it does not verify. */
  readonly verify: (token: string) => { header: unknown, payload: unknown }
}

/** What verifying a token's signature gave, and with which key. */
export type Verified =
  | { ok: true, header: unknown, payload: unknown, key: KeyVerifier }
  | { ok: false, reason: 'invalid_token' | 'expired' }

export const INVALID: Verified = Object.freeze({ ok: false, reason: 'invalid_token' })
const EXPIRED: Verified = Object.freeze({ ok: false, reason: 'expired' })

/** Built once per key: fast-jwt prepares the key here, not per token. */
export function pinnedKey (kid: string, key: string, algorithm: KeyVerifier['algorithm']): KeyVerifier {
  const verify = createVerifier({ key, algorithms: [algorithm as Algorithm], requiredClaims: REQUIRED_CLAIMS, complete: true })
  return { kid, algorithm, verify: verify as KeyVerifier['verify'] }
}

/** The signature, the algorithm and `exp`, by this one key. */
export function verifyWith (key: KeyVerifier, token: string): Verified {
  try {
    const { header, payload } = key.verify(token)
    return { ok: true, header, payload, key }
  } catch (err) {
    return err instanceof TokenError && err.code === TokenError.codes.expired ? EXPIRED : INVALID
  }
}

/**
 * The key rule, for a token whose header is well formed (wellFormedHeader): the key its `kid`
 * names (`key`, looked up by kid alone, never by alg), or for a token without a `kid` (issued
 * before tokens carried one, layout 1) each shared secret in turn, the current one first.
 */
export function verifyByKid (token: string, kid: unknown, key: KeyVerifier | null | undefined, secrets: Iterable<KeyVerifier>): Verified {
  if (kid !== undefined) return key ? verifyWith(key, token) : INVALID
  let last = INVALID
  for (const secret of secrets) {
    last = verifyWith(secret, token)
    if (last.ok || last.reason === 'expired') return last
  }
  return last
}

/** RSA below this is refused: Gatehouse signs with nothing weaker. */
export const MIN_RSA_BITS = 2048

/** The one algorithm a public key verifies: Ed25519 EdDSA, RSA of at least 2048 bits RS256; null for any other key. */
export function publicKeyAlgorithm (key: KeyObject): 'EdDSA' | 'RS256' | null {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS) return 'RS256'
  return null
}

/** Members only a private or symmetric JWK has: a key that carries one is not a public key. */
export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
