import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_JWT_PRIVATE_KEY } from '../helpers/config.js'
import { sql } from '../helpers/db.js'
import { login, me, PASSWORD, signUp } from '../helpers/http.js'
import { codeOf, readMailFile, startSmtpServer } from '../helpers/smtp.js'
import { eventually, sleep } from '../helpers/wait.js'
import { loadConfig } from '../../src/config/index.js'

// Email verification: the mail sign-up sends, POST /email-verifications/confirm and the resend;
// and account mail in development, written to files, as the README's reset uses it.

const INVALID = { error: 'invalid_verification_token', message: 'This verification link is invalid or has expired; ask for a new one' }
const VERIFY = 'Confirm your email address'

t.test('sign-up mails a verification token; confirming it marks the email, once', async (t) => {
  const smtp = await startSmtpServer(t)
  const ctx = await buildTestApp(t, { SMTP_URL: smtp.url, EMAIL_VERIFICATION_URL: 'https://app.example.test/verify?token={token}' })
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  t.equal((user as { emailVerifiedAt?: unknown }).emailVerifiedAt, null, 'a new account is unverified')
  const mail = await smtp.waitForMail(email)
  t.equal(mail.subject, VERIFY)
  const token = codeOf(mail)
  t.ok(mail.text.includes(`https://app.example.test/verify?token=${token}`))
  const { token: session } = await login(ctx.app, email)

  const confirm = (body: object) => ctx.app.inject({ method: 'POST', url: '/email-verifications/confirm', payload: body })
  t.equal((await confirm({ token })).statusCode, 204)
  const [row] = await sql<{ email_verified_at: Date | null }>('SELECT email_verified_at FROM users WHERE id = $1', [user.id])
  t.ok(row?.email_verified_at, 'email_verified_at is set')
  t.equal((await me(ctx.app, `Token token=${session}`)).json().user.emailVerifiedAt, row!.email_verified_at!.toISOString(), 'GET /me sees it, on a session from before')
  t.same((await confirm({ token })).json(), INVALID, 'used up')
  for (const wrong of [token.toUpperCase(), `${token}\u0007`, 'nope', '']) t.same((await confirm({ token: wrong })).json(), INVALID, JSON.stringify(wrong))
  t.equal((await confirm({})).statusCode, 400, 'no token at all')
})

t.test('POST /email-verifications mails again only an unverified account, and answers alike', async (t) => {
  const smtp = await startSmtpServer(t)
  const ctx = await buildTestApp(t, { SMTP_URL: smtp.url })
  const unverified = ctx.email()
  const verified = ctx.email()
  await signUp(ctx.app, unverified)
  const user = await signUp(ctx.app, verified)
  await sql('UPDATE users SET email_verified_at = now() WHERE id = $1', [user.id])
  await ctx.app.accountMail!.idle()
  const before = smtp.mails.length
  const resend = (email: string) => ctx.app.inject({ method: 'POST', url: '/email-verifications', payload: { email } })
  for (const email of [unverified, verified, ctx.email()]) {
    const res = await resend(email)
    t.equal(res.statusCode, 202)
    t.same(res.json(), { status: 'accepted' })
  }
  await ctx.app.accountMail!.idle()
  await sleep(100)
  const sent = smtp.mails.slice(before)
  t.same(sent.map((mail) => mail.to[0]?.toLowerCase()), [unverified], 'one mail, to the unverified account only')
  const second = codeOf(sent[0]!)
  const first = codeOf(smtp.mails.find((mail) => mail.to[0]?.toLowerCase() === unverified)!)
  const reset = await ctx.app.inject({ method: 'POST', url: '/password-resets/confirm', payload: { token: second, password: 'a new passphrase here' } })
  t.equal(reset.json().error, 'invalid_reset_token', 'a verification token resets nothing')
  t.equal((await ctx.app.inject({ method: 'POST', url: '/email-verifications/confirm', payload: { token: second } })).statusCode, 204)
  t.same((await ctx.app.inject({ method: 'POST', url: '/email-verifications/confirm', payload: { token: first } })).json(), INVALID, 'the older mail dies with the confirmation')
})

t.test('development without SMTP: each mail is a file in MAIL_DIR, and a reset works from it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-mail-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const mailDir = join(dir, 'mail')
  const ctx = await buildTestApp(t, { MAIL_TRANSPORT: '', MAIL_DIR: mailDir })
  t.same(ctx.config.mail.transport, { mode: 'files', dir: mailDir }, 'auto, outside production, with no SMTP_URL: files')
  const email = ctx.email()
  await signUp(ctx.app, email)
  await ctx.app.accountMail!.idle() // the sign-up's verification mail first, so that the newest is the reset
  t.equal((await ctx.app.inject({ method: 'POST', url: '/password-resets', payload: { email } })).statusCode, 202)
  await ctx.app.accountMail!.idle()
  t.ok(await eventually(3000, async () => (await readdir(mailDir)).some((name) => name.includes('password-reset'))), 'the reset mail is a file')
  t.equal((await stat(mailDir)).mode & 0o777, 0o700, 'in a folder only its owner reads')
  const mail = await readMailFile(mailDir, email)
  t.equal(mail.subject, 'Reset your password', 'the newest file is the reset')
  const confirmed = await ctx.app.inject({ method: 'POST', url: '/password-resets/confirm', payload: { token: codeOf(mail), password: 'reset from a file' } })
  t.equal(confirmed.statusCode, 204)
  t.ok(await login(ctx.app, email, 'reset from a file'))
  t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 401)
})

t.test('production: no SMTP means no mail, said once at start-up; files and a plain-http link are refused', async (t) => {
  const production = { NODE_ENV: 'production', DATABASE_URL: 'postgresql://127.0.0.1/x', JWT_PRIVATE_KEY: TEST_JWT_PRIVATE_KEY, COOKIE_SECURE: 'true', CONSOLE_HOSTS: 'ops.example.test' }
  const { config, warnings } = loadConfig(production)
  t.equal(config.mail.transport, null)
  t.match(warnings, [/account mail is off \(no SMTP_URL\): password reset and email verification answer 404/])
  t.throws(() => loadConfig({ ...production, MAIL_TRANSPORT: 'files' }), /MAIL_TRANSPORT files is for development/)
  t.throws(() => loadConfig({ ...production, SMTP_URL: 'smtp://mail.example.test', MAIL_FROM: 'App <a@app.example.test>', PASSWORD_RESET_URL: 'http://localhost/reset?token={token}' }), /PASSWORD_RESET_URL.*https/)
  t.throws(() => loadConfig({ ...production, REQUIRE_VERIFIED_EMAIL: 'true' }), /REQUIRE_VERIFIED_EMAIL/)
  t.throws(() => loadConfig({ PASSWORD_RESET_URL: 'https://app.example.test/reset' }), /must contain \{token\}/)
  t.throws(() => loadConfig({ MAIL_TRANSPORT: 'smtp' }), /SMTP_URL is not set/)
  t.throws(() => loadConfig({ ...production, SMTP_URL: 'smtps://u:p@mail.example.test' }), /MAIL_FROM is required with SMTP_URL and NODE_ENV=production/, 'a From the provider sends for, not localhost')
  const mailing = { ...production, SMTP_URL: 'smtps://u:p@mail.example.test', MAIL_FROM: 'App <no-reply@app.example.test>' }
  const started = loadConfig(mailing)
  t.equal(started.config.mail.transport?.mode, 'smtp')
  t.match(started.warnings, [/PASSWORD_RESET_URL is not set: its mails carry only a code/, /EMAIL_VERIFICATION_URL is not set/], 'no link templates: said at start-up')
  for (const from of ['a@x.test, b@y.test', 'App <a@x.test>, b@y.test', 'x\u0000 <a@b.test>', 'A <a@b.test\r\nBcc: c@d.test>', 'no at sign']) {
    t.throws(() => loadConfig({ ...mailing, MAIL_FROM: from }), /MAIL_FROM must be one address/, JSON.stringify(from))
  }
  for (const param of ['debug=true', 'logger=true']) {
    t.throws(() => loadConfig({ ...mailing, SMTP_URL: `smtps://u:p@mail.example.test/?${param}` }), /SMTP_URL must not set debug or logger/, param)
  }
})
