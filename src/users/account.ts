import { errors } from '../http/errors.js'
import type { SessionStore } from '../sessions/store.js'
import { MAX_PASSWORD_BYTES, type PasswordHasher } from './passwords.js'
import { type PublicUser, publicUser, type Role, type UserRepository } from './repository.js'

export interface AccountDeps {
  users: UserRepository
  passwords: PasswordHasher
  sessions: SessionStore
}

export interface AccountService {
  /**
   * Checks `current`, stores `next` and ends every other session of the user (`keep` stays).
   * Throws `invalid_password` (403) when `current` is wrong.
   */
  changePassword(userId: string, keep: string, current: string, next: string): Promise<void>
  /** Sets the role and ends all the user's sessions; null when there is no such user. */
  changeRole(userId: string, role: Role): Promise<PublicUser | null>
}

export function createAccountService({ users, passwords, sessions }: AccountDeps): AccountService {
  /**
   * A change that must not leave old sessions behind. Sessions are ended before the change, so a
   * Redis outage fails the request before anything changed, and again after it, for logins that
   * checked the old password (or read the old role) in between. Logins still in flight are
   * refused by the new generation (see sessions/login.ts).
   */
  async function withSessionsEnded<T>(userId: string, keep: string | undefined, change: () => Promise<T>): Promise<T> {
    await sessions.revokeAll(userId, { keep })
    const result = await change()
    await sessions.revokeAll(userId, { keep })
    return result
  }

  return {
    async changePassword(userId, keep, current, next) {
      if (Buffer.byteLength(next, 'utf8') > MAX_PASSWORD_BYTES) {
        throw errors.badRequest(`body/new_password must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores anything longer)`)
      }
      const user = await users.findById(userId)
      if (!user) {
        // The account was deleted: its sessions mean nothing any more.
        await sessions.revokeAll(userId)
        throw errors.expiredSession()
      }
      const usable = Buffer.byteLength(current, 'utf8') <= MAX_PASSWORD_BYTES
      if (!usable || !(await passwords.verify(current, user.passwordHash))) throw errors.wrongPassword()
      const hash = await passwords.hash(next)
      await withSessionsEnded(userId, keep, () => users.setPasswordHash(userId, hash))
    },
    async changeRole(userId, role) {
      const user = await users.findById(userId)
      if (!user) return null
      // No change, nothing to end: a repeated request is harmless.
      if (user.role === role) return publicUser(user)
      return withSessionsEnded(userId, undefined, () => users.setRole(userId, role))
    },
  }
}
