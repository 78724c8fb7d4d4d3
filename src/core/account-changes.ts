import type { DeletedBy } from '../sessions/events.js'
import type { SessionStore } from '../sessions/store.js'
import { errors } from '../shared/errors.js'
import type { OnQuota } from '../throttle/quotas.js'
import type { Throttles } from '../throttle/throttles.js'
import type { PasswordHasher } from '../users/password-hasher.js'
import { checkPasswordBytes } from '../users/password-rules.js'
import { type PublicUser, publicUser, type Role, type UserRepository } from '../users/repository.js'
import { requireLiveUser, withSessionsEnded } from './sessions-ended.js'

export interface AccountAdminDeps {
  users: UserRepository
  throttles: Throttles
  sessions: SessionStore
}

/** The changes an admin (API or CLI) makes to an account: no password hashing needed. */
export function createAccountAdmin ({ users, throttles, sessions }: AccountAdminDeps) {
  return {
    /** Sets the role and ends all the user's sessions; null when there is no such user. */
    async changeRole (userId: string, role: Role): Promise<PublicUser | null> {
      const user = await users.findById(userId)
      if (!user) return null
      // No change, nothing to end: a repeated request is harmless.
      if (user.role === role) return publicUser(user)
      return (await withSessionsEnded(sessions, user.id, 'role-change', undefined, () => users.setRole(user.id, role))).changed
    },

    /**
     * Deletes the user and ends all their sessions (reason `account-deleted`); returns how many were
     * ended, or null when there is no such user. The way to delete an account: sessions answer from
     * Redis alone (GET /me too), so a row deleted by hand leaves them working until they end.
     */
    async deleteUser (userId: string, by: DeletedBy): Promise<number | null> {
      const user = await users.findById(userId)
      if (!user) return null
      // Its mailed tokens go with the row (ON DELETE CASCADE); its sessions are ended around it.
      const { changed: deleted, ended } = await withSessionsEnded(sessions, user.id, 'account-deleted', undefined, () => users.delete(user.id))
      if (!deleted) return null
      await sessions.userDeleted(user.id, by)
      // A later account with the same email starts with no known networks.
      await throttles.forgetNetworks(user.email)
      return ended
    },
  }
}

export type AccountAdmin = ReturnType<typeof createAccountAdmin>

export interface PasswordChangeDeps extends AccountAdminDeps {
  passwords: PasswordHasher
}

/**
 * DELETE /me: the user deletes their own account, re-entering the password (App Store guideline
 * 5.1.1(v) asks for deletion in the app). A wrong password is `invalid_password` and counts
 * against the login limits, so a stolen session cannot be used to guess it either.
 */
export function createOwnAccountDeletion ({ users, passwords, throttles, sessions }: PasswordChangeDeps) {
  const { deleteUser } = createAccountAdmin({ users, throttles, sessions })
  return async function deleteOwnAccount (userId: string, password: string, ip: string, onQuota?: OnQuota): Promise<number> {
    const user = await requireLiveUser({ users, sessions }, userId)
    if (!(await throttles.passwordAttempt(user.email, ip, () => passwords.verify(password, user.passwordHash), onQuota))) throw errors.wrongPassword()
    const ended = await deleteUser(user.id, 'self')
    // Deleted by a concurrent request meanwhile: the outcome the caller asked for.
    return ended ?? 0
  }
}

export function createPasswordChange ({ users, passwords, throttles, sessions }: PasswordChangeDeps) {
  /**
   * Checks `current`, stores `next` and ends every other session of the user (`keep` stays).
   * Throws `invalid_password` when `current` is wrong; wrong guesses count against the account's
   * login limit (`too_many_attempts`), so a stolen session cannot be used to guess the password.
   */
  return async function changePassword (userId: string, keep: string, current: string, next: string, ip: string, onQuota?: OnQuota): Promise<void> {
    checkPasswordBytes('new_password', next)
    const user = await requireLiveUser({ users, sessions }, userId)
    if (!(await throttles.passwordAttempt(user.email, ip, () => passwords.verify(current, user.passwordHash), onQuota))) throw errors.wrongPassword()
    const hash = await passwords.hash(next)
    await withSessionsEnded(sessions, userId, 'password-change', keep, () => users.setPasswordHash(userId, hash))
    // Networks made known with the old password are not the new one's.
    await throttles.forgetNetworks(user.email)
  }
}
