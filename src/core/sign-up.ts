import type { SessionStore } from '../sessions/store.js'
import type { Device } from '../sessions/types.js'
import { isGatehouseError } from '../shared/errors.js'
import type { Log } from '../shared/log.js'
import type { OnQuota } from '../throttle/quotas.js'
import type { Throttles } from '../throttle/throttles.js'
import type { TokenService } from '../tokens/tokens.js'
import type { PasswordHasher } from '../users/password-hasher.js'
import { checkPasswordBytes } from '../users/password-rules.js'
import type { PublicUser, UserRepository } from '../users/repository.js'
import type { AccountMail } from './account-mail.js'
import { issueSession, type LoginResult } from './login.js'

export interface SignUpDeps {
  users: UserRepository
  passwords: PasswordHasher
  throttles: Throttles
  sessions: SessionStore
  tokens: TokenService
  /** Sends the verification mail; null without account mail. */
  mail: AccountMail | null
  /** REQUIRE_VERIFIED_EMAIL: a new account gets no session until the email is confirmed. */
  requireVerifiedEmail: boolean
  log: Log
}

export interface SignUpResult {
  user: PublicUser
  /** With `signIn`, the session a login would give; null without it, or while the email must be confirmed first. */
  session: LoginResult | null
}

export function createSignUp ({ users, passwords, throttles, sessions, tokens, mail, requireVerifiedEmail, log }: SignUpDeps) {
  /**
   * Throws `email_taken` when the (normalised) email has an account, `too_many_attempts` past the
   * address's limit. `signIn`: also a session, from the same request and the one bcrypt run (the
   * hash just made proves nothing a second check would not).
   */
  return async function signUp (email: string, password: string, ip: string, signIn?: { device: Device, audience: string | null }, onQuota?: OnQuota): Promise<SignUpResult> {
    // Every attempt counts, a taken email too: that keeps probing which emails have accounts slow.
    await throttles.signUp(ip, onQuota)
    checkPasswordBytes('password', password)
    const user = await users.create(email, await passwords.hash(password))
    mail?.send('email-verification', user, ip)
    if (!signIn || requireVerifiedEmail) return { user, session: null }
    try {
      // Null only if a revoke-all ran in the last few milliseconds (an admin deleting the new account).
      return { user, session: await issueSession({ sessions, tokens }, user, signIn.device, signIn.audience, await sessions.generation(user.id)) }
    } catch (err) {
      // The account exists now: an error would send the app to retry and meet email_taken. It gets
      // the account without a session instead, and signs in as usual (docs/mobile.md).
      if (!isGatehouseError(err) || !err.isFault) throw err
      log.warn({ userId: user.id, err: err.message }, 'signed up, but the session could not be created: answered without one')
      return { user, session: null }
    }
  }
}
