import type { Mailer } from '../mail/mailer.js'
import { linkFor, type MailKind, passwordResetMail, verificationMail } from '../mail/templates.js'
import type { Log } from '../shared/log.js'
import type { Throttles } from '../throttle/throttles.js'
import type { AccountTokens, TokenPurpose } from '../users/account-tokens.js'

/** Mail jobs (a token to store, then a mail to queue) waiting or running at once per instance; past it, dropped. */
const MAX_PENDING_JOBS = 100

export interface AccountMail {
  /**
   * Issues a token of `kind` for the user and mails it, in the background: the caller's answer
   * never waits on it, and neither its timing nor its outcome depends on it. `ip`: who asked (a
   * request from a network the account knows is not counted against the recipient's cap). Never throws.
   */
  send(kind: MailKind, user: { id: string, email: string }, ip: string): void
  /** Resolves when no job is waiting or running (tests, shutdown), or after `timeoutMs`. */
  idle(timeoutMs?: number): Promise<void>
}

export interface AccountMailDeps {
  mailer: Mailer
  tokens: AccountTokens
  throttles: Pick<Throttles, 'mailBudget' | 'mailRecipient'>
  /** Link templates (PASSWORD_RESET_URL, EMAIL_VERIFICATION_URL) and how long each token lives. */
  config: { resetUrl: string | null, verificationUrl: string | null, resetTtlMinutes: number, verificationTtlMinutes: number }
  log: Log
  /** Told of a mail dropped before it reached the mailer (the mailer reports the rest). */
  onDropped: (kind: MailKind, reason: 'recipient' | 'budget' | 'busy' | 'error') => void
}

export function createAccountMail ({ mailer, tokens, throttles, config, log, onDropped }: AccountMailDeps): AccountMail {
  // Each kind of mail: the token it carries, how long that lives, its link and its template.
  const kinds: Record<MailKind, { purpose: TokenPurpose, minutes: number, link: string | null, template: typeof passwordResetMail }> = {
    'password-reset': { purpose: 'password_reset', minutes: config.resetTtlMinutes, link: config.resetUrl, template: passwordResetMail },
    'email-verification': { purpose: 'email_verification', minutes: config.verificationTtlMinutes, link: config.verificationUrl, template: verificationMail },
  }
  let pending = 0
  const settled: Array<() => void> = []

  async function job (kind: MailKind, user: { id: string, email: string }, ip: string): Promise<void> {
    // Both checked before a token is made: a flood uses up budgets, not the table.
    if (!(await throttles.mailRecipient(user.email, ip))) {
      log.warn({ kind, userId: user.id }, 'account mail dropped: this recipient had MAIL_MAX_PER_EMAIL mails this hour')
      onDropped(kind, 'recipient')
      return
    }
    if (!(await throttles.mailBudget(kind))) {
      log.warn({ kind, userId: user.id }, 'account mail dropped: MAIL_MAX_PER_HOUR is used up')
      onDropped(kind, 'budget')
      return
    }
    const { purpose, minutes, link, template } = kinds[kind]
    const token = await tokens.issue(user.id, purpose, minutes)
    mailer.send(template(user.email, token, linkFor(link, token), minutes))
  }

  return {
    send (kind, user, ip) {
      if (pending >= MAX_PENDING_JOBS) {
        log.warn({ kind, userId: user.id }, 'account mail dropped: too many mail jobs at once on this instance')
        onDropped(kind, 'busy')
        return
      }
      pending++
      // setImmediate: the request's answer goes out first, whatever the job does.
      setImmediate(() => {
        job(kind, user, ip)
          .catch((err: Error) => {
            log.warn({ kind, userId: user.id, err: err.message }, 'account mail dropped: Redis or PostgreSQL did not answer')
            onDropped(kind, 'error')
          })
          .finally(() => {
            pending--
            if (pending === 0) for (const done of settled.splice(0)) done()
          })
      })
    },
    async idle (timeoutMs = 10_000) {
      if (pending > 0) {
        let timer: NodeJS.Timeout | undefined
        await new Promise<void>((resolve) => {
          settled.push(resolve)
          timer = setTimeout(resolve, timeoutMs).unref()
        })
        clearTimeout(timer)
      }
      await mailer.idle(timeoutMs)
    },
  }
}
