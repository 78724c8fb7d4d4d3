import { wellFormedHeader } from './jws.js'
import { INVALID, type KeyVerifier, type Verified } from './key-verifier.js'
import { createLocalKeySet, type LocalKeys } from './local-keys.js'
import { createRemoteKeySet, type RemoteKeys } from './remote-keys.js'

/**
 * The keys tokens are verified with: Gatehouse's public keys (its JWKS, or given here), and only
 * if asked for by name, its HS256 secrets. Each key verifies with its own algorithm only, whatever
 * the token's header says, and is picked by the token's `kid`. The keys given here are the local
 * half (local-keys.ts), the JWKS the remote half (remote-keys.ts); a kid is looked up locally first.
 */
export interface VerificationKeys extends LocalKeys, Partial<RemoteKeys> {
  /**
   * How many verified tokens to remember (default 10,000, about 0.5 KB each; 0: none). A hit skips
   * the signature check (an Ed25519 verify costs some 15 HMACs) but nothing else: `exp` is checked
   * every time, and the token's key must still be the one that verified it (a key gone from the
   * JWKS, or refetched, verifies again).
   */
  verifiedCacheSize?: number
}

export type { Verified }

export interface KeySet {
  /** Throws ReaderUnavailableError when the JWKS is needed and cannot be had. */
  verify(token: string): Promise<Verified>
}

const DEFAULT_VERIFIED_CACHE_SIZE = 10_000

export function createKeySet (keys: VerificationKeys): KeySet {
  if (typeof keys !== 'object' || keys === null) throw new TypeError('keys: give jwksUrl (Gatehouse\'s /.well-known/jwks.json) or publicKeys')
  const local = createLocalKeySet(keys)
  if (local.sharedSecrets.length === 0 && (keys.publicKeys?.length ?? 0) === 0 && keys.jwksUrl === undefined) {
    throw new TypeError('keys: give jwksUrl (Gatehouse\'s /.well-known/jwks.json) or publicKeys; unsafeSharedSecrets only for an HS256 deployment')
  }
  const remote = keys.jwksUrl === undefined ? null : createRemoteKeySet(keys as RemoteKeys)
  const cacheSize = keys.verifiedCacheSize ?? DEFAULT_VERIFIED_CACHE_SIZE
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw new TypeError('keys.verifiedCacheSize: a whole number, 0 or more')
  /** Tokens verified, by their exact text, with the key that did it (first in, first out). */
  const verified = new Map<string, { key: KeyVerifier, kid: unknown, header: unknown, payload: unknown, exp: number }>()

  /** The key of a kid: by kid alone, never by alg (each accepts only its own key's algorithm); the given keys first. */
  const keyOf = async (kid: string) => local.keyOf(kid) ?? (remote && (await remote.keyOf(kid)))

  function remember (token: string, kid: unknown, result: Verified): Verified {
    if (!result.ok || cacheSize === 0) return result
    if (verified.size >= cacheSize) verified.delete(verified.keys().next().value!)
    verified.set(token, { key: result.key, kid, header: result.header, payload: result.payload, exp: (result.payload as { exp: number }).exp })
    return result
  }

  return {
    async verify (token) {
      const hit = verified.get(token)
      if (hit !== undefined) {
        // Only while the key that verified it still stands for its kid (a JWKS refetch makes new
        // keys); a kid-less token's is a shared secret, which stays.
        const current = typeof hit.kid === 'string' ? await keyOf(hit.kid) : hit.key
        if (current === hit.key) {
          if (hit.exp * 1000 > Date.now()) return { ok: true, header: hit.header, payload: hit.payload, key: hit.key }
          verified.delete(token)
          return { ok: false, reason: 'expired' }
        }
        verified.delete(token)
      }
      const header = wellFormedHeader(token)
      if (header === null) return INVALID
      const { kid } = header
      // A kid none of the given keys has is the JWKS's to answer for.
      if (remote !== null && typeof kid === 'string' && local.keyOf(kid) === undefined) {
        return remember(token, kid, await remote.verify(token, header))
      }
      return remember(token, kid, local.verify(token, header))
    },
  }
}
