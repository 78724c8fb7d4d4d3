import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import nodemailer from 'nodemailer'
import { redactUrl } from '../shared/redact-url.js'
import type { MailMessage } from './templates.js'

// How one attempt at one mail leaves the process: over SMTP, or (development) into a file. The
// queue, retries and logging live in mailer.ts; a transport only tries once and throws what failed.

export type MailTransportConfig =
  /** SMTP_URL, smtp:// or smtps://, credentials and nodemailer options (?ignoreTLS=true) in the URL. */
  | { mode: 'smtp'; url: string }
  /** Development without SMTP: each mail written as <dir>/<ISO time>-<kind>-<random>.eml. */
  | { mode: 'files'; dir: string }

export interface Delivery {
  /** files mode: the path of the file written. */
  file?: string
}

export interface MailTransport {
  readonly mode: 'smtp' | 'files'
  /** One attempt; rejects with nodemailer's error (responseCode, code) or a file system error. */
  deliver (message: MailMessage, from: string, signal: AbortSignal): Promise<Delivery>
  close (): void
}

export function createTransport (config: MailTransportConfig, timeoutMs: number): MailTransport {
  return config.mode === 'smtp' ? smtpTransport(config.url, timeoutMs) : fileTransport(config.dir)
}

/** The fields every mail carries, whatever the transport: the files hold what SMTP would get. */
function mailOptions (message: MailMessage, from: string, signal?: AbortSignal) {
  return {
    from,
    to: message.to,
    subject: message.subject,
    text: message.text,
    html: message.html,
    // RFC 3834: an automatic mail, so vacation responders and the like do not answer it.
    headers: { 'Auto-Submitted': 'auto-generated' },
    signal,
  }
}

function smtpTransport (url: string, timeoutMs: number): MailTransport {
  if (!/^smtps?:\/\//i.test(url)) {
    throw new Error(`The SMTP URL must start with smtp:// or smtps://, not ${describeUrl(url)}`)
  }
  // One connection per attempt (no pool): mails are few, and a connection never outlives its mail.
  // The timeouts bound how long a slow or silent server holds a slot; parameters in the URL win.
  const transporter = nodemailer.createTransport({
    url,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    // The mails are strings we composed: nothing in them may make nodemailer read a file or a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  })
  return {
    mode: 'smtp',
    async deliver (message, from, signal) {
      await transporter.sendMail(mailOptions(message, from, signal))
      return {}
    },
    close: () => transporter.close(),
  }
}

function fileTransport (dir: string): MailTransport {
  if (dir === '') throw new Error('The mail folder must not be empty')
  // The same MIME bytes, with CRLF line ends, that an SMTP server would receive.
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' })
  return {
    mode: 'files',
    async deliver (message, from) {
      const { message: raw } = await composer.sendMail(mailOptions(message, from))
      // The mails hold live tokens: only the developer's own account may read them.
      await mkdir(dir, { recursive: true, mode: 0o700 })
      // ISO time first so that names sort by time; its colons become dashes, which every file
      // system accepts.
      const time = new Date().toISOString().replaceAll(':', '-')
      const file = join(dir, `${time}-${message.kind}-${randomBytes(4).toString('hex')}.eml`)
      await writeFile(file, raw as Buffer, { mode: 0o600, flag: 'wx' })
      return { file }
    },
    close: () => composer.close(),
  }
}

function describeUrl (url: string): string {
  try {
    return redactUrl(url)
  } catch {
    return 'an invalid URL'
  }
}
