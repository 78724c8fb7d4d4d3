// The mails Gatehouse sends, as plain text and HTML. The token is a credential: these strings go
// to the transport and nowhere else (never to a log line).

export type MailKind = 'password-reset' | 'email-verification'

export interface MailMessage {
  kind: MailKind
  to: string
  subject: string
  text: string
  html: string
}

/** How a kind of mail words what it is for; the rest of the mail is the same for every kind. */
interface Wording {
  subject: string
  /** Introduces the recipient's address, which follows on a line of its own. */
  about: string
  /** What the link or the code lets the reader do, after "To ". */
  action: string
}

const PASSWORD_RESET: Wording = {
  subject: 'Reset your password',
  about: 'Someone asked to reset the password of the account for',
  action: 'choose a new password',
}

const EMAIL_VERIFICATION: Wording = {
  subject: 'Confirm your email address',
  about: 'Please confirm that this email address is yours',
  action: 'confirm it',
}

const IGNORE = 'If you did not ask for this, ignore this mail.'

/** `link` is null when no URL template is configured: the mail then shows only the code. */
export function passwordResetMail (to: string, token: string, link: string | null, validMinutes: number): MailMessage {
  return compose('password-reset', PASSWORD_RESET, to, token, link, validMinutes)
}

/** `link` is null when no URL template is configured: the mail then shows only the code. */
export function verificationMail (to: string, token: string, link: string | null, validMinutes: number): MailMessage {
  return compose('email-verification', EMAIL_VERIFICATION, to, token, link, validMinutes)
}

const TOKEN_PLACEHOLDER = '{token}'

/**
 * Fills the `{token}` placeholder of a URL template (PASSWORD_RESET_URL=https://app.example.com/reset?token={token});
 * null template -> null. Every occurrence is replaced, URL-encoded, so a token can never add a
 * parameter or a path segment of its own. A template without the placeholder is a configuration
 * mistake (the link would not carry the token), so it throws rather than send a useless link.
 */
export function linkFor (template: string | null, token: string): string | null {
  if (template === null) return null
  if (!template.includes(TOKEN_PLACEHOLDER)) {
    throw new Error(`A mail link template must contain ${TOKEN_PLACEHOLDER}`)
  }
  return template.replaceAll(TOKEN_PLACEHOLDER, encodeURIComponent(token))
}

function compose (kind: MailKind, wording: Wording, to: string, token: string, link: string | null, validMinutes: number): MailMessage {
  const validity = `${link === null ? 'The code is' : 'The link and the code are'} valid for ${duration(validMinutes)}.`
  // The address, the link and the code each stand on a line of their own: they cannot be wrapped,
  // and a reader (or a test) copies them from there. Every other line stays under 78 characters.
  const text = [
    `${wording.about}:`,
    `  ${to}`,
    '',
    ...(link === null
      ? [`To ${wording.action}, enter this code:`]
      : [`To ${wording.action}, open this link:`, link, '', 'or enter this code:']),
    `Code: ${token}`,
    '',
    validity,
    IGNORE,
    '',
  ].join('\n')

  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(wording.subject)}</title></head><body>`,
    `<p>${escapeHtml(wording.about)}: <strong>${escapeHtml(to)}</strong></p>`,
    ...(link === null
      ? [`<p>To ${escapeHtml(wording.action)}, enter this code:</p>`]
      : [
          `<p>To ${escapeHtml(wording.action)}, open this link:<br>`,
          `<a href="${escapeHtml(link)}">${escapeHtml(link)}</a></p>`,
          '<p>or enter this code:</p>',
        ]),
    `<p>Code: <code>${escapeHtml(token)}</code></p>`,
    `<p>${escapeHtml(validity)}<br>${escapeHtml(IGNORE)}</p>`,
    '</body></html>',
    '',
  ].join('\n')

  return { kind, to, subject: wording.subject, text, html }
}

/** "1 minute", "30 minutes", "1 hour", "24 hours": whole hours read better than 1440 minutes. */
function duration (minutes: number): string {
  const [count, unit] = minutes >= 60 && minutes % 60 === 0 ? [minutes / 60, 'hour'] : [minutes, 'minute']
  return `${count} ${unit}${count === 1 ? '' : 's'}`
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Safe inside element text and inside a double- or single-quoted attribute value alike. */
function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char)
}
