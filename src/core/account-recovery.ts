import type { SessionStore } from '../sessions/store.js'
import { errors } from '../shared/errors.js'
import type { Log } from '../shared/log.js'
import type { OnQuota } from '../throttle/quotas.js'
import type { Throttles } from '../throttle/throttles.js'
import type { AccountTokens } from '../users/account-tokens.js'
import type { PasswordHasher } from '../users/password-hasher.js'
import { checkPasswordBytes } from '../users/password-rules.js'
import type { UserRepository } from '../users/repository.js'
import type { AccountMail } from './account-mail.js'
import { withSessionsEnded } from './sessions-ended.js'

export interface AccountRecoveryDeps {
  users: UserRepository
  passwords: PasswordHasher
  throttles: Throttles
  sessions: SessionStore
  tokens: AccountTokens
  mail: AccountMail
  log: Log
}

/**
 * Password reset and email verification by mailed tokens (devise's recoverable and confirmable).
 * The requests answer alike whatever the email: the lookup runs for every request, and what
 * depends on its result (a token, a mail) happens after the answer, in the background.
 */
export function createAccountRecovery ({ users, passwords, throttles, sessions, tokens, mail, log }: AccountRecoveryDeps) {
  return {
    /** POST /password-resets: mails a reset token if the email has an account. `onQuota`, here and below: what is left of the limits (throttle/quotas.ts). */
    async requestPasswordReset (email: string, ip: string, onQuota?: OnQuota): Promise<void> {
      await throttles.mailRequest(email, ip, onQuota)
      const user = await users.findByEmail(email)
      if (user) mail.send('password-reset', user, ip)
    },

    /**
     * POST /password-resets/confirm: sets the password and ends every session of the user; any
     * other reset token of the user dies too. `invalid_reset_token` for any token that is not live.
     */
    async confirmPasswordReset (token: string, password: string, ip: string, onQuota?: OnQuota): Promise<void> {
      checkPasswordBytes('password', password)
      // A cheap look first: a bcrypt run (hundreds of ms of a worker) only for a token that names a
      // user. Wrong tokens count against the address, as wrong passwords do.
      const userId = await throttles.tokenAttempt(ip, () => tokens.peek(token, 'password_reset'), onQuota)
      if (userId === null) throw errors.invalidResetToken()
      const hash = await passwords.hash(password)
      // The token is used up in the same transaction that sets the password: of two confirms, one
      // wins; the other finds it gone. Sessions are cut off before that, as for a password change.
      const { changed: user } = await withSessionsEnded(sessions, userId, 'password-reset', undefined, () => tokens.resetPassword(token, hash))
      if (!user) throw errors.invalidResetToken()
      // Whoever knew the old password may have made networks known with it; and the owner, back in
      // from this network, is no longer locked out by the failures that led here.
      await throttles.forgetNetworks(user.email)
      await throttles.forgetFailures(user.email, ip)
    },

    /** POST /email-verifications: mails a verification token if the email has an account not yet confirmed. */
    async requestVerification (email: string, ip: string, onQuota?: OnQuota): Promise<void> {
      await throttles.mailRequest(email, ip, onQuota)
      const user = await users.findByEmail(email)
      if (user && user.emailVerifiedAt === null) mail.send('email-verification', user, ip)
    },

    /** POST /email-verifications/confirm: `invalid_verification_token` for any token that is not live. */
    async confirmVerification (token: string, ip: string, onQuota?: OnQuota): Promise<void> {
      const verified = await throttles.tokenAttempt(ip, () => tokens.verifyEmail(token), onQuota)
      if (verified === null) throw errors.invalidVerificationToken()
      try {
        // For the sessions from before, which recorded '' at login (touch-session-6.lua reads it for them).
        await sessions.markEmailVerified(verified.userId, verified.verifiedAt)
      } catch (err) {
        // The confirmation itself is done and the token used up: the answer is still 204. Sessions
        // from before show the email unconfirmed until their next login, which reads PostgreSQL.
        log.warn({ userId: verified.userId, err: (err as Error).message }, 'email confirmed, but Redis could not record it for the sessions from before')
      }
    },
  }
}

export type AccountRecovery = ReturnType<typeof createAccountRecovery>
