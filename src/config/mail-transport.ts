import { resolve } from 'node:path'
import { ConfigError } from './config-error.js'
import { checked, oneOf, optional, type Parser, tokenLinkTemplate } from './parsers.js'

const MAIL_TRANSPORTS = ['auto', 'smtp', 'files', 'off'] as const

/** MAIL_TRANSPORT resolved: null when there is no mail (and no routes that need it). */
export type MailTransport = { mode: 'smtp'; url: string } | { mode: 'files'; dir: string } | null

const wanted = oneOf(MAIL_TRANSPORTS)

/**
 * MAIL_TRANSPORT's entry, resolved against SMTP_URL and NODE_ENV. Files hold live tokens in clear,
 * so they are for development only; production with no SMTP has no mail, and says so at start-up.
 */
export const mailTransport: Parser<MailTransport> = {
  accepts: wanted.accepts,
  parse: (name, raw, context) => {
    const { value, isSet, warn } = context
    const mode = wanted.parse(name, raw, context)
    const production = value('NODE_ENV')
    const smtpUrl = value('SMTP_URL')
    if (mode === 'smtp' && smtpUrl === null) throw new ConfigError('MAIL_TRANSPORT', 'is smtp, but SMTP_URL is not set')
    if (mode === 'files' && production) throw new ConfigError('MAIL_TRANSPORT', 'files is for development: a mailed token is a credential, not something to leave in a folder')
    if (mode === 'smtp' || (mode === 'auto' && smtpUrl !== null)) {
      const params = new URL(smtpUrl!).searchParams
      // nodemailer's own logging prints whole messages: reset tokens, in the log.
      if (params.has('debug') || params.has('logger')) throw new ConfigError('SMTP_URL', 'must not set debug or logger: they write whole mails, tokens included, to the log')
      // A provider refuses mail from an address it does not send for, and every mail would be dropped.
      if (production && !isSet('MAIL_FROM')) throw new ConfigError('MAIL_FROM', 'is required with SMTP_URL and NODE_ENV=production: an address your SMTP provider sends for, e.g. App <no-reply@example.com>')
      return { mode: 'smtp', url: smtpUrl! }
    }
    if (mode === 'files' || (mode === 'auto' && !production)) {
      warn(`account mail is written to files in ${value('MAIL_DIR')} (no SMTP_URL; development only)`)
      return { mode: 'files', dir: resolve(value('MAIL_DIR')) }
    }
    warn(`account mail is off (${mode === 'off' ? 'MAIL_TRANSPORT=off' : 'no SMTP_URL'}): password reset and email verification answer 404`)
    return null
  },
}

/** PASSWORD_RESET_URL and EMAIL_VERIFICATION_URL: a link template, https in production. */
export const mailLink = checked(optional(tokenLinkTemplate), (link, { value, warn }, name) => {
  const production = value('NODE_ENV')
  if (production && link !== null && !link.startsWith('https://')) throw new ConfigError(name, 'must start with https:// with NODE_ENV=production')
  if (production && value('MAIL_TRANSPORT') !== null && link === null) warn(`${name} is not set: its mails carry only a code to type into the app, no link`)
})
