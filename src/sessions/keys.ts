/** The Redis layout version written to every session hash (`v`); see docs/session-contract.md. */
export const SESSION_LAYOUT_VERSION = '3'

/**
 * The Redis key names of layout 3 (docs/session-contract.md). Every key that belongs to one user
 * carries the user's id as a hash tag, `{<user_id>}`, so Redis Cluster puts a session, its owner
 * key, the user's index, generation and cutoff in one hash slot: each session script touches one slot and
 * stays atomic on a cluster, and different users spread over the shards.
 */
export interface SessionKeys {
  /** `<prefix>sess:{<user_id>}:<jti>`: the session hash. */
  session(userId: string, id: string): string
  /** `<prefix>owner:{<user_id>}:<jti>`: who owned it, for the expired event. */
  owner(userId: string, id: string): string
  /** `<prefix>user:{<user_id>}:sessions`: the user's index. */
  index(userId: string): string
  /** `<prefix>user:{<user_id>}:generation`: changed by every revoke-all; a login in flight compares it. */
  generation(userId: string): string
  /** `<prefix>user:{<user_id>}:cutoff`: sessions of a lower `generation` were ended by a revoke-all. */
  cutoff(userId: string): string
  /**
   * `<prefix>user:{<user_id>}:email_verified_at`: when the user confirmed the email (Unix ms),
   * for sessions from before that, whose hashes recorded ''. Kept as long as such a session can live.
   */
  emailVerified(userId: string): string
  /** `<prefix>user:{<user_id>}:created`: the user's sessions by creation (Unix ms), the device list's order. */
  created(userId: string): string
  /** `<prefix>ended:{<user_id>}:<jti>`: how one session ended (logout, revoked from elsewhere...), kept for the rest of its window. */
  ended(userId: string, id: string): string
  /** `<prefix>user:{<user_id>}:revoked`: the user's last revoke-all (at, reason, kept), kept as long as the cutoff. */
  revoked(userId: string): string
  /** SCAN pattern matching every session hash (layout 3). */
  readonly sessionPattern: string
  /** The user and session a session hash's name stands for; null for any other key. */
  parseSession(key: string): { userId: string; id: string } | null
}

export function sessionKeys (prefix: string): SessionKeys {
  const sessionPrefix = `${prefix}sess:{`
  return {
    session: (userId, id) => `${sessionPrefix}${userId}}:${id}`,
    owner: (userId, id) => `${prefix}owner:{${userId}}:${id}`,
    index: (userId) => `${prefix}user:{${userId}}:sessions`,
    generation: (userId) => `${prefix}user:{${userId}}:generation`,
    cutoff: (userId) => `${prefix}user:{${userId}}:cutoff`,
    emailVerified: (userId) => `${prefix}user:{${userId}}:email_verified_at`,
    created: (userId) => `${prefix}user:{${userId}}:created`,
    ended: (userId, id) => `${prefix}ended:{${userId}}:${id}`,
    revoked: (userId) => `${prefix}user:{${userId}}:revoked`,
    sessionPattern: `${sessionPrefix}*`,
    parseSession (key) {
      if (!key.startsWith(sessionPrefix)) return null
      const rest = key.slice(sessionPrefix.length)
      const end = rest.indexOf('}:')
      if (end <= 0 || end + 2 >= rest.length) return null
      return { userId: rest.slice(0, end), id: rest.slice(end + 2) }
    },
  }
}

/**
 * Layout 2's names, which had no hash tags: read only to move a session written by an older
 * release to its layout-3 keys (see migrate-session-8.lua).
 */
export const legacyKeys = (prefix: string) => ({
  session: (id: string) => `${prefix}sess:${id}`,
  owner: (id: string) => `${prefix}owner:${id}`,
  index: (userId: string) => `${prefix}user:${userId}:sessions`,
  /** Matches layout-2 session hashes, and layout-3 ones too (`sess:{...`): filter with isLegacySession. */
  sessionPattern: `${prefix}sess:*`,
  isLegacySession: (key: string) => key.startsWith(`${prefix}sess:`) && !key.startsWith(`${prefix}sess:{`),
  /** The session id in a layout-2 session hash's name. */
  idOf: (key: string) => key.slice(`${prefix}sess:`.length),
})
