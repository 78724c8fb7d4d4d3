import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createMailer, type Mailer, type MailerOptions, type MailOutcome } from '../../src/mail/mailer.js'
import { passwordResetMail, verificationMail } from '../../src/mail/templates.js'
import { codeOf, readMailFile, startSmtpServer } from '../helpers/smtp.js'
import { eventually, sleep } from '../helpers/wait.js'

// The mailer against a real SMTP server (smtp-server, in this process): no SMTP is mocked.

const TOKEN = 'tok-SECRET-7f3a9c'
const FROM = 'Gatehouse <no-reply@gatehouse.test>'
const LINK = `https://app.example.test/reset?token=${TOKEN}`

interface LogLine { level: 'info' | 'warn'; details: Record<string, unknown>; msg: string }

/** A mailer whose log lines and outcomes the test reads; closed at teardown. */
function mailerFor (t: Test, options: Partial<MailerOptions> & Pick<MailerOptions, 'transport'>) {
  const lines: LogLine[] = []
  const outcomes: string[] = []
  const mailer: Mailer = createMailer({
    from: FROM,
    log: {
      info: (details, msg) => lines.push({ level: 'info', details: details as Record<string, unknown>, msg }),
      warn: (details, msg) => lines.push({ level: 'warn', details: details as Record<string, unknown>, msg }),
    },
    baseDelayMs: 20,
    timeoutMs: 2_000,
    ...options,
    onOutcome: (kind, outcome: MailOutcome, reason) => {
      outcomes.push(reason === undefined ? outcome : `${outcome}:${reason}`)
      options.onOutcome?.(kind, outcome, reason)
    },
  })
  t.teardown(() => mailer.close())
  return { mailer, lines, outcomes, warnings: () => lines.filter((line) => line.level === 'warn') }
}

/** A port nothing listens on: bound by a server that is then closed. */
async function deadPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

const resetMail = (to = 'alice@example.test') => passwordResetMail(to, TOKEN, LINK, 30)

t.test('sends a mail: the server gets From, To, Subject, text and HTML', async (t) => {
  const smtp = await startSmtpServer(t)
  const { mailer, outcomes, lines } = mailerFor(t, { transport: { mode: 'smtp', url: smtp.url } })
  t.equal(mailer.mode, 'smtp')
  t.equal(mailer.send(resetMail('Alice@Example.test')), true)
  const mail = await smtp.waitForMail('alice@example.test')
  t.match(mail.to, [/^alice@example\.test$/i])
  t.equal(mail.to.length, 1)
  t.equal(mail.from, '"Gatehouse" <no-reply@gatehouse.test>')
  t.equal(mail.subject, 'Reset your password')
  t.equal(codeOf(mail), TOKEN)
  t.match(mail.text, LINK)
  t.match(mail.html, `<code>${TOKEN}</code>`)
  t.match(mail.raw, /^Auto-Submitted: auto-generated\r$/m)
  await mailer.idle()
  t.same(outcomes, ['sent'])
  t.match(lines, [{ level: 'info', msg: 'mail sent', details: { kind: 'password-reset', to: 'A***@Example.test', attempt: 1 } }])
  t.notMatch(JSON.stringify(lines), TOKEN)
})

t.test('SMTP down: send() returns at once; retried, then dropped after maxAttempts', async (t) => {
  const port = await deadPort()
  const { mailer, outcomes, warnings, lines } = mailerFor(t, { transport: { mode: 'smtp', url: `smtp://127.0.0.1:${port}` }, maxAttempts: 3 })
  t.equal(mailer.send(resetMail()), true)
  t.same(outcomes, [], 'nothing decided yet: send() did not wait for the connection')
  await mailer.idle(5_000)
  t.same(outcomes, ['retried', 'retried', 'dropped:attempts'])
  t.equal(warnings().length, 1)
  t.match(warnings()[0], { msg: 'mail dropped: every attempt failed', details: { kind: 'password-reset', to: 'a***@example.test', attempt: 3, reason: 'attempts', error: 'ECONNREFUSED' } })
  t.notMatch(JSON.stringify(lines), TOKEN, 'no log line carries the token')
  t.notMatch(JSON.stringify(lines), 'alice@', 'nor the whole address')
})

t.test('a slow server never slows send(); the mail arrives later', async (t) => {
  const smtp = await startSmtpServer(t)
  smtp.behave('slow', 2_000)
  const { mailer, outcomes } = mailerFor(t, { transport: { mode: 'smtp', url: smtp.url }, timeoutMs: 5_000 })
  const started = performance.now()
  const queued = mailer.send(resetMail())
  const took = performance.now() - started
  t.equal(queued, true)
  t.ok(took < 200, `send() returned in ${took.toFixed(1)} ms, against a 2,000 ms reply`)
  const mail = await smtp.waitForMail('alice@example.test', 8_000)
  t.equal(codeOf(mail), TOKEN)
  await mailer.idle()
  t.same(outcomes, ['sent'])
})

t.test('a server slower than timeoutMs: the attempt times out and is retried', async (t) => {
  const smtp = await startSmtpServer(t)
  smtp.behave('slow', 2_000)
  const { mailer, outcomes, lines } = mailerFor(t, {
    transport: { mode: 'smtp', url: smtp.url },
    timeoutMs: 300,
    // The server answers in time again once the first attempt has given up.
    onOutcome: (_kind, outcome) => { if (outcome === 'retried') smtp.behave('accept') },
  })
  mailer.send(resetMail())
  await smtp.waitForMail('alice@example.test', 5_000)
  await mailer.idle()
  t.same(outcomes, ['retried', 'sent'])
  t.match(lines.find((line) => line.msg === 'mail attempt failed, will retry'), { details: { attempt: 1, error: 'ETIMEDOUT' } })
  t.equal(smtp.mails.length, 1, 'the attempt that timed out did not deliver')
})

t.test('a permanent refusal (550) is dropped after one attempt, with one warning', async (t) => {
  const smtp = await startSmtpServer(t)
  smtp.behave('refuse')
  const { mailer, outcomes, warnings, lines } = mailerFor(t, { transport: { mode: 'smtp', url: smtp.url } })
  t.equal(mailer.send(resetMail()), true)
  await mailer.idle()
  t.same(outcomes, ['dropped:refused'])
  t.equal(smtp.transactions, 1, 'the server saw exactly one attempt')
  t.equal(warnings().length, 1)
  t.match(warnings()[0], { details: { reason: 'refused', responseCode: 550, attempt: 1 } })
  t.notMatch(JSON.stringify(lines), TOKEN)
  t.same(smtp.mails, [])
})

t.test('busy (451) then accepting: retried, then sent', async (t) => {
  const smtp = await startSmtpServer(t)
  smtp.behave('busy')
  const { mailer, outcomes, lines } = mailerFor(t, {
    transport: { mode: 'smtp', url: smtp.url },
    onOutcome: (_kind, outcome) => { if (outcome === 'retried') smtp.behave('accept') },
  })
  mailer.send(verificationMail('bob@example.test', TOKEN, null, 60))
  const mail = await smtp.waitForMail('bob@example.test')
  t.equal(mail.subject, 'Confirm your email address')
  await mailer.idle()
  t.same(outcomes, ['retried', 'sent'])
  t.equal(smtp.transactions, 2)
  t.match(lines.find((line) => line.msg === 'mail attempt failed, will retry'), { details: { responseCode: 451, attempt: 1 } })
})

t.test('the queue is bounded: beyond maxQueue, send() drops at once', async (t) => {
  const smtp = await startSmtpServer(t)
  smtp.behave('slow', 200)
  const { mailer, outcomes, warnings } = mailerFor(t, { transport: { mode: 'smtp', url: smtp.url }, maxQueue: 3, concurrency: 1 })
  const accepted = ['a1', 'a2', 'a3', 'a4'].map((name) => mailer.send(resetMail(`${name}@example.test`)))
  t.same(accepted, [true, true, true, false])
  t.same(outcomes, ['dropped:queue_full'], 'told at once')
  t.match(warnings(), [{ details: { reason: 'queue_full', to: 'a***@example.test' } }])
  await mailer.idle()
  t.same(smtp.mails.map((mail) => mail.to[0]).sort(), ['a1@example.test', 'a2@example.test', 'a3@example.test'])
  t.equal(mailer.send(resetMail('a5@example.test')), true, 'room again once the queue has drained')
})

t.test('close(): pending retries are dropped, their timers cleared', async (t) => {
  const smtp = await startSmtpServer(t)
  smtp.behave('busy')
  const refTimers = () => process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length
  const timersBefore = refTimers()
  const { mailer, outcomes } = mailerFor(t, { transport: { mode: 'smtp', url: smtp.url }, baseDelayMs: 300, maxDelayMs: 300 })
  mailer.send(resetMail())
  t.ok(await eventually(3_000, () => outcomes.includes('retried'), { intervalMs: 5 }))
  t.equal(refTimers(), timersBefore, 'a waiting retry does not keep the process alive (unref)')
  const closing = mailer.close()
  t.equal(mailer.close(), closing, 'idempotent: the same close')
  await closing
  t.same(outcomes, ['retried', 'dropped:closed'])
  await mailer.idle(5_000)
  t.equal(refTimers(), timersBefore, 'no timer of the mailer keeps the process alive')
  // Had the retry timer survived close(), the server would see a second attempt by now.
  await sleep(400)
  t.equal(smtp.transactions, 1)
  const settled = await Promise.race([mailer.idle(2_000).then(() => 'idle'), sleep(100).then(() => 'busy')])
  t.equal(settled, 'idle', 'nothing came back to the queue')
  t.equal(mailer.send(resetMail()), false, 'a closed mailer takes no mail')
  t.same(outcomes, ['retried', 'dropped:closed', 'dropped:closed'])
})

t.test('close() lets a send in flight finish within the grace', async (t) => {
  const smtp = await startSmtpServer(t)
  smtp.behave('slow', 300)
  const { mailer, outcomes } = mailerFor(t, { transport: { mode: 'smtp', url: smtp.url } })
  mailer.send(resetMail())
  await eventually(2_000, () => smtp.transactions === 1, { intervalMs: 5 })
  await mailer.close()
  t.same(outcomes, ['sent'])
  t.equal(smtp.mails.length, 1)
})

t.test('files mode: each mail is a parsable .eml, 0600 in a 0700 folder, named in the log', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'gatehouse-mail-'))
  t.teardown(() => rm(parent, { recursive: true, force: true }))
  const dir = join(parent, 'outbox')
  const { mailer, outcomes, lines } = mailerFor(t, { transport: { mode: 'files', dir } })
  t.equal(mailer.mode, 'files')
  t.equal(mailer.send(resetMail()), true)
  await mailer.idle()
  t.same(outcomes, ['sent'])
  const [name, ...others] = await readdir(dir)
  t.same(others, [])
  t.match(name, /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-password-reset-[0-9a-f]{8}\.eml$/)
  const file = join(dir, name!)
  t.equal((await stat(file)).mode & 0o777, 0o600)
  t.equal((await stat(dir)).mode & 0o777, 0o700)
  const mail = await readMailFile(dir, 'ALICE@example.test')
  t.equal(mail.file, file)
  t.equal(codeOf(mail), TOKEN)
  t.equal(mail.subject, 'Reset your password')
  t.equal(mail.from, '"Gatehouse" <no-reply@gatehouse.test>')
  t.match(mail.raw, /\r\n/, 'CRLF line ends, as SMTP would carry them')
  t.match(lines, [{ level: 'info', msg: 'mail written to file', details: { file, kind: 'password-reset', to: 'a***@example.test' } }])
  await t.rejects(readMailFile(dir, 'nobody@example.test'), /no mail to nobody@example.test/)
})

t.test('a recipient with CR/LF or other controls is refused, nothing sent', async (t) => {
  const smtp = await startSmtpServer(t)
  const { mailer, outcomes, warnings } = mailerFor(t, { transport: { mode: 'smtp', url: smtp.url } })
  for (const to of ['eve@example.test\r\nBcc: victim@example.test', 'eve@example.test\nX: y', 'eve\u0000@example.test']) {
    t.equal(mailer.send(resetMail(to)), false, JSON.stringify(to))
  }
  await mailer.idle()
  t.same(outcomes, ['dropped:refused', 'dropped:refused', 'dropped:refused'])
  t.equal(warnings().length, 3)
  t.notMatch(JSON.stringify(warnings()), /\\r|\\n|\\u0000|victim/, 'the log line is not shaped by the address')
  // The same mailer still sends a good one, and that is all the server saw.
  mailer.send(resetMail())
  await smtp.waitForMail('alice@example.test')
  await mailer.idle()
  t.equal(smtp.transactions, 1)
})

t.test('createMailer refuses a URL that is not smtp:// or smtps://, without echoing its password', async (t) => {
  const log = { info: () => {}, warn: () => {} }
  const refused = (() => {
    try {
      createMailer({ transport: { mode: 'smtp', url: 'http://user:hunter2@mail.test' }, from: FROM, log })
    } catch (err) {
      return (err as Error).message
    }
  })()
  t.match(refused, 'must start with smtp:// or smtps://')
  t.notMatch(refused, 'hunter2')
  t.throws(() => createMailer({ transport: { mode: 'smtp', url: 'smtp://127.0.0.1' }, from: FROM, log, maxAttempts: 0 }), RangeError)
})
