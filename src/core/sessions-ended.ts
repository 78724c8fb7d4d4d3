import type { RevokeReason } from '../sessions/events.js'
import type { SessionStore } from '../sessions/store.js'
import { errors } from '../shared/errors.js'
import type { UserRecord, UserRepository } from '../users/repository.js'

/**
 * A change that must not leave old sessions behind. Sessions are cut off before the change (O(1),
 * so a Redis outage fails the request before anything changed), and cut off again and swept
 * after it, for logins that checked the old password (or read the old role) in between. Logins
 * still in flight are refused by the new generation (see login.ts). Returns the change's result
 * and how many sessions' keys were deleted.
 */
export async function withSessionsEnded<T> (
  sessions: SessionStore,
  userId: string,
  reason: RevokeReason,
  keep: string | undefined,
  change: () => Promise<T>
): Promise<{ changed: T, ended: number }> {
  await sessions.cutOff(userId, keep, reason)
  const changed = await change()
  const ended = await sessions.revokeAll(userId, { reason, keep })
  return { changed, ended }
}

/** How a session whose account was deleted ended, as its app is told. */
export const ACCOUNT_DELETED = { reason: 'revoked', cause: 'account_deleted' } as const

/**
 * The user behind a live session, or null when the account was deleted: its sessions mean nothing
 * any more, and they are all ended here.
 */
export async function liveUser (
  { users, sessions }: { users: UserRepository, sessions: SessionStore },
  userId: string
): Promise<UserRecord | null> {
  const user = await users.findById(userId)
  if (user) return user
  await sessions.revokeAll(userId, { reason: 'account-deleted' })
  return null
}

/** `liveUser`, for a caller whose request ends there: a deleted account's session is `session_expired`. */
export async function requireLiveUser (deps: { users: UserRepository, sessions: SessionStore }, userId: string): Promise<UserRecord> {
  const user = await liveUser(deps, userId)
  if (!user) throw errors.expiredSession(ACCOUNT_DELETED)
  return user
}
