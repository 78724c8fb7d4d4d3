import type { AddressInfo } from 'node:net'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type AddressObject, type ParsedMail, simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import type { Test } from 'tap'

// A real SMTP server for tests, on 127.0.0.1 and a port of its own: what it received, parsed,
// and how it answers (accept, answer slowly, refuse, be busy), switchable between transactions.

export interface ReceivedMail {
  /** The envelope's recipients (RCPT TO), as the client gave them. */
  to: string[]
  /** The From header, as text: 'Gatehouse <no-reply@example.com>'. */
  from: string
  subject: string
  text: string
  html: string
  raw: string
}

export type SmtpBehaviour = 'accept' | 'slow' | 'refuse' | 'busy'

export interface TestSmtpServer {
  /** smtp://127.0.0.1:<port>: plain, and STARTTLS is not offered, so no client tries TLS. */
  url: string
  port: number
  /** Mails accepted so far, oldest first. */
  mails: ReceivedMail[]
  /** Transactions begun (MAIL FROM commands), accepted or not: how many attempts a client made. */
  readonly transactions: number
  /** Resolves with the first mail to `to` (case-insensitive) that arrives (or has arrived) within timeoutMs (default 5000); rejects after. */
  waitForMail (to: string, timeoutMs?: number): Promise<ReceivedMail>
  /**
   * How the next transactions are answered, until changed: 'accept'; 'slow' (the reply to DATA
   * comes delayMs late, and the mail counts as received only if the client is still there);
   * 'refuse' (550 at RCPT); 'busy' (451 at DATA).
   */
  behave (mode: SmtpBehaviour, delayMs?: number): void
  close (): Promise<void>
}

interface MailWaiter {
  to: string
  resolve: (mail: ReceivedMail) => void
}

/** An SMTP reply as smtp-server sends it: an Error with the code. */
function reply (responseCode: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode })
}

/** Starts a server on port 0; it closes on t.teardown. */
export async function startSmtpServer (t: Test): Promise<TestSmtpServer> {
  const mails: ReceivedMail[] = []
  const waiters = new Set<MailWaiter>()
  const slowReplies = new Set<NodeJS.Timeout>()
  const openSessions = new Set<string>()
  let mode: SmtpBehaviour = 'accept'
  let delayMs = 0
  let transactions = 0

  function received (mail: ReceivedMail): void {
    mails.push(mail)
    for (const waiter of waiters) {
      if (isFor(mail, waiter.to)) waiter.resolve(mail)
    }
  }

  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    // No STARTTLS: nodemailer would upgrade and then refuse smtp-server's self-signed certificate.
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    // A teardown should not wait 30 s for a client still in a slow transaction.
    closeTimeout: 500,
    onConnect (session, callback) {
      openSessions.add(session.id)
      callback()
    },
    onClose (session) {
      openSessions.delete(session.id)
    },
    onMailFrom (_address, _session, callback) {
      transactions++
      callback()
    },
    onRcptTo (_address, _session, callback) {
      callback(mode === 'refuse' ? reply(550, 'No such user here') : undefined)
    },
    onData (stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        if (mode === 'busy') return callback(reply(451, 'Try again later'))
        if (mode === 'refuse') return callback(reply(550, 'Message refused'))
        const raw = Buffer.concat(chunks).toString('utf8')
        const recipients = session.envelope.rcptTo.map(({ address }) => address)
        const accept = () => {
          parseMail(raw, recipients).then((mail) => {
            // A client that gave up before the reply does not count the mail as sent: neither do we.
            if (openSessions.has(session.id)) received(mail)
            callback()
          }, (err: Error) => callback(err))
        }
        if (mode !== 'slow') return accept()
        const timer = setTimeout(() => {
          slowReplies.delete(timer)
          accept()
        }, delayMs)
        slowReplies.add(timer)
      })
    },
  })

  server.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.server.once('listening', resolve)
    server.server.once('error', reject)
  })
  const { port } = server.server.address() as AddressInfo

  let closing: Promise<void> | undefined
  function close (): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      for (const timer of slowReplies) clearTimeout(timer)
      slowReplies.clear()
      server.close(() => resolve())
    })
    return closing
  }
  t.teardown(close)

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    mails,
    get transactions () {
      return transactions
    },
    waitForMail (to, timeoutMs = 5_000) {
      const arrived = mails.find((mail) => isFor(mail, to))
      if (arrived !== undefined) return Promise.resolve(arrived)
      return new Promise((resolve, reject) => {
        const waiter: MailWaiter = {
          to,
          resolve: (mail) => {
            clearTimeout(timer)
            waiters.delete(waiter)
            resolve(mail)
          },
        }
        const timer = setTimeout(() => {
          waiters.delete(waiter)
          reject(new Error(`no mail to ${to} within ${timeoutMs} ms (${mails.length} received)`))
        }, timeoutMs)
        waiters.add(waiter)
      })
    },
    behave (next, nextDelayMs = 0) {
      mode = next
      delayMs = nextDelayMs
    },
    close,
  }
}

/** The `Code: <token>` line of a received mail's text part. Throws if none. */
export function codeOf (mail: Pick<ReceivedMail, 'text'>): string {
  const code = /^Code: (\S+)$/m.exec(mail.text)?.[1]
  if (code === undefined) throw new Error('the mail has no "Code: <token>" line')
  return code
}

/**
 * The newest mail to `to` (case-insensitive) that the mailer's files mode wrote to `dir`, parsed
 * as a server would receive it. Throws if there is none.
 */
export async function readMailFile (dir: string, to: string): Promise<ReceivedMail & { file: string }> {
  // The names start with the time they were written, so the newest sorts last.
  const names = (await readdir(dir)).filter((name) => name.endsWith('.eml')).sort().reverse()
  for (const name of names) {
    const file = join(dir, name)
    const raw = await readFile(file, 'utf8')
    const parsed = await simpleParser(raw)
    const mail = fromParsed(parsed, raw, addressesOf(parsed.to))
    if (isFor(mail, to)) return { ...mail, file }
  }
  throw new Error(`no mail to ${to} in ${dir} (${names.length} .eml files)`)
}

function isFor (mail: ReceivedMail, to: string): boolean {
  return mail.to.some((address) => address.toLowerCase() === to.toLowerCase())
}

async function parseMail (raw: string, recipients: string[]): Promise<ReceivedMail> {
  return fromParsed(await simpleParser(raw), raw, recipients)
}

function fromParsed (parsed: ParsedMail, raw: string, to: string[]): ReceivedMail {
  return {
    to,
    from: parsed.from?.text ?? '',
    subject: parsed.subject ?? '',
    text: parsed.text ?? '',
    html: typeof parsed.html === 'string' ? parsed.html : '',
    raw,
  }
}

function addressesOf (field: AddressObject | AddressObject[] | undefined): string[] {
  const objects = field === undefined ? [] : Array.isArray(field) ? field : [field]
  return objects.flatMap((object) => object.value.map(({ address }) => address ?? ''))
}
