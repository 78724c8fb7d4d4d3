import { errors } from '../http/errors.js'
import type { RevokeReason } from '../sessions/events.js'
import type { SessionStore } from '../sessions/store.js'
import type { Throttles } from '../throttle/throttles.js'
import { checkPasswordBytes, type PasswordHasher } from './passwords.js'
import { type PublicUser, publicUser, type Role, type UserRecord, type UserRepository } from './repository.js'

export interface AccountDeps {
  users: UserRepository
  passwords: PasswordHasher
  throttles: Throttles
  sessions: SessionStore
}

export interface AccountService {
  /**
   * Checks `current`, stores `next` and ends every other session of the user (`keep` stays).
   * Throws `invalid_password` (403) when `current` is wrong; wrong guesses count against the
   * account's login limit (429), so a stolen session cannot be used to guess the password.
   */
  changePassword(userId: string, keep: string, current: string, next: string, ip: string): Promise<void>
  /** Sets the role and ends all the user's sessions; null when there is no such user. */
  changeRole(userId: string, role: Role): Promise<PublicUser | null>
  /**
   * Deletes the user and ends all their sessions (reason `account-deleted`); returns how many were
   * ended, or null when there is no such user. The way to delete an account: sessions answer from
   * Redis alone (GET /me too), so a row deleted by hand leaves them working until they end.
   */
  deleteUser(userId: string): Promise<number | null>
}

/**
 * The user behind a live session. If the account was deleted, its sessions mean nothing any more:
 * they are all ended and the caller gets 401 `session_expired`.
 */
export async function requireLiveUser ({ users, sessions }: Pick<AccountDeps, 'users' | 'sessions'>, userId: string): Promise<UserRecord> {
  const user = await users.findById(userId)
  if (user) return user
  await sessions.revokeAll(userId, { reason: 'account-deleted' })
  throw errors.expiredSession()
}

export function createAccountService ({ users, passwords, throttles, sessions }: AccountDeps): AccountService {
  /**
   * A change that must not leave old sessions behind. Sessions are cut off before the change (O(1),
   * so a Redis outage fails the request before anything changed), and cut off again and swept
   * after it, for logins that checked the old password (or read the old role) in between. Logins
   * still in flight are refused by the new generation (see sessions/login.ts). Returns the
   * change's result and how many sessions' keys were deleted.
   */
  async function withSessionsEnded<T> (userId: string, reason: RevokeReason, keep: string | undefined, change: () => Promise<T>): Promise<{ changed: T; ended: number }> {
    await sessions.cutOff(userId, keep)
    const changed = await change()
    const ended = await sessions.revokeAll(userId, { reason, keep })
    return { changed, ended }
  }

  return {
    async changePassword (userId, keep, current, next, ip) {
      checkPasswordBytes('new_password', next)
      const user = await requireLiveUser({ users, sessions }, userId)
      if (!(await throttles.passwordAttempt(user.email, ip, () => passwords.verify(current, user.passwordHash)))) throw errors.wrongPassword()
      const hash = await passwords.hash(next)
      await withSessionsEnded(userId, 'password-change', keep, () => users.setPasswordHash(userId, hash))
      // Networks made known with the old password are not the new one's.
      await throttles.forgetNetworks(user.email)
    },
    async changeRole (userId, role) {
      const user = await users.findById(userId)
      if (!user) return null
      // No change, nothing to end: a repeated request is harmless.
      if (user.role === role) return publicUser(user)
      return (await withSessionsEnded(user.id, 'role-change', undefined, () => users.setRole(user.id, role))).changed
    },
    async deleteUser (userId) {
      const user = await users.findById(userId)
      if (!user) return null
      const { changed: deleted, ended } = await withSessionsEnded(user.id, 'account-deleted', undefined, () => users.delete(user.id))
      // A later account with the same email starts with no known networks.
      await throttles.forgetNetworks(user.email)
      return deleted ? ended : null
    },
  }
}
