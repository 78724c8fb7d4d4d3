import { createHash } from 'node:crypto'
import t, { type Test } from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { sql } from '../helpers/db.js'
import { call, login, me, newSession, PASSWORD, signUp } from '../helpers/http.js'
import { codeOf, type ReceivedMail, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js'
import { eventually, sleep } from '../helpers/wait.js'

// POST /password-resets and /password-resets/confirm against a real SMTP server: the mail, the
// single-use token, and every way a token can be wrong, which all get one answer.

const NEW_PASSWORD = 'a brand new passphrase'
const INVALID = { error: 'invalid_reset_token', message: 'This reset link is invalid or has expired; ask for a new one' }

async function setUp (t: Test, env: Record<string, string> = {}) {
  const smtp = await startSmtpServer(t)
  const ctx = await buildTestApp(t, { SMTP_URL: smtp.url, PASSWORD_RESET_URL: 'https://app.example.test/reset?token={token}', ...env })
  return { smtp, ctx }
}

const requestReset = (ctx: TestContext, email: string, ip = '127.0.0.1') =>
  ctx.app.inject({ method: 'POST', url: '/password-resets', payload: { email }, remoteAddress: ip })
const confirm = (ctx: TestContext, token: unknown, password: unknown = NEW_PASSWORD) =>
  ctx.app.inject({ method: 'POST', url: '/password-resets/confirm', payload: { token, password } })

const RESET = 'Reset your password'
const VERIFY = 'Confirm your email address'

/** The next mail with `subject` to `email` after the first `seen` mails the server got. */
async function mailAfter (smtp: TestSmtpServer, email: string, seen: number, subject = RESET, timeoutMs = 5000): Promise<ReceivedMail> {
  let found: ReceivedMail | undefined
  const arrived = await eventually(timeoutMs, () => {
    found = smtp.mails.slice(seen).find((mail) => mail.subject === subject && mail.to.some((to) => to.toLowerCase() === email.toLowerCase()))
    return found !== undefined
  }, { intervalMs: 20 })
  if (!arrived || !found) throw new Error(`no mail to ${email}`)
  return found
}

/** Asks for a reset and returns the mailed token. */
async function resetToken (ctx: TestContext, smtp: TestSmtpServer, email: string): Promise<string> {
  const seen = smtp.mails.length
  const res = await requestReset(ctx, email)
  if (res.statusCode !== 202) throw new Error(`reset request: ${res.statusCode} ${res.body}`)
  return codeOf(await mailAfter(smtp, email, seen))
}

t.test('a reset, end to end: the mail, the new password, every session ended, the token used up', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email, token: session, user } = await newSession(ctx)
  const other = (await login(ctx.app, email)).token

  const res = await requestReset(ctx, email.toUpperCase())
  t.equal(res.statusCode, 202, 'any spelling of the email')
  t.same(res.json(), { status: 'accepted' })
  const mail = await mailAfter(smtp, email, 0)
  t.equal(mail.subject, 'Reset your password')
  const token = codeOf(mail)
  t.match(token, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url')
  t.ok(mail.text.includes(`https://app.example.test/reset?token=${token}`), 'the link from PASSWORD_RESET_URL carries the same token')
  t.ok(mail.html.includes(`https://app.example.test/reset?token=${token}`), 'in the HTML part too')

  const [row] = await sql<{ hash: string }>('SELECT hash FROM account_tokens WHERE user_id = $1 AND purpose = \'password_reset\'', [user.id])
  t.equal(row?.hash, createHash('sha256').update(token).digest('base64url'), 'only the hash is stored')
  t.equal((await sql('SELECT 1 FROM account_tokens WHERE hash = $1', [token])).length, 0, 'never the token itself')

  const done = await confirm(ctx, token)
  t.equal(done.statusCode, 204, done.body)
  for (const old of [session, other]) t.equal((await me(ctx.app, `Token token=${old}`)).json().error, 'session_expired', 'every session of the user ended')
  t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 401, 'the old password is gone')
  t.ok((await login(ctx.app, email, NEW_PASSWORD)).token, 'the new one works')
  t.same((await confirm(ctx, token, 'yet another passphrase')).json(), INVALID, 'the token is used up')
  t.equal((await sql('SELECT 1 FROM account_tokens WHERE user_id = $1 AND purpose = \'password_reset\'', [user.id])).length, 0, 'and no reset token of the user is left')

  const events = await ctx.redis.xrange(`${ctx.config.redisKeyPrefix}events`, '-', '+')
  const reasons = events.map(([, fields]) => fields).filter((f) => f.includes('revoked')).map((f) => f[f.indexOf('reason') + 1])
  t.same(reasons, ['password-reset', 'password-reset'], 'each session ended with reason password-reset')
})

t.test('an email with no account gets the same answer, and no mail', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const res = await requestReset(ctx, ctx.email())
  t.equal(res.statusCode, 202)
  t.same(res.json(), { status: 'accepted' })
  await ctx.app.accountMail!.idle()
  await sleep(200)
  t.equal(smtp.transactions, 0, 'nothing was sent')
})

t.test('every wrong token gets the same 400, and a token survives them all', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email } = await newSession(ctx)
  const token = await resetToken(ctx, smtp, email)
  const wrong = [
    token.toUpperCase(), token.toLowerCase(), `${token}=`, ` ${token}`, `${token} `, `${token}\n`, `${token.slice(0, 20)}\u0000${token.slice(21)}`,
    token.slice(0, -1), `${token}A`, '', 'x'.repeat(43), '.'.repeat(43), 'é'.repeat(43), 'A'.repeat(10_000),
    Buffer.from(token, 'base64url').toString('hex'), Buffer.from(token, 'base64url').toString('base64'),
  ].filter((candidate) => candidate !== token)
  for (const candidate of wrong) {
    const res = await confirm(ctx, candidate)
    t.equal(res.statusCode, 400, JSON.stringify(candidate.slice(0, 50)))
    t.same(res.json(), INVALID)
  }
  for (const candidate of [null, 42, ['a'], { token }]) {
    const res = await confirm(ctx, candidate)
    t.equal(res.statusCode, 400, `not a string: ${JSON.stringify(candidate)}`)
    t.equal(res.json().error, 'bad_request')
  }
  const huge = await ctx.app.inject({ method: 'POST', url: '/password-resets/confirm', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ token: 'a'.repeat(5 * 1024 * 1024), password: NEW_PASSWORD }) })
  t.equal(huge.statusCode, 413, 'a 5 MB body')
  t.equal((await confirm(ctx, token)).statusCode, 204, 'the real token still works after all of them')
})

t.test('the new password follows the sign-up rules; a refused one leaves the token usable', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email } = await newSession(ctx)
  const token = await resetToken(ctx, smtp, email)
  for (const password of ['short', 'é'.repeat(40), '']) {
    const res = await confirm(ctx, token, password)
    t.equal(res.statusCode, 400, JSON.stringify(password))
    t.equal(res.json().error, 'bad_request')
  }
  t.equal((await confirm(ctx, token)).statusCode, 204)
})

t.test('an expired token is refused like any other', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email, user } = await newSession(ctx)
  const token = await resetToken(ctx, smtp, email)
  const [row] = await sql<{ minutes: number }>('SELECT round(extract(epoch FROM expires_at - created_at) / 60)::int AS minutes FROM account_tokens WHERE user_id = $1 AND purpose = \'password_reset\'', [user.id])
  t.equal(row?.minutes, 30, 'valid for PASSWORD_RESET_TTL_MINUTES (30)')
  await sql('UPDATE account_tokens SET expires_at = now() - interval \'1 second\' WHERE user_id = $1 AND purpose = \'password_reset\'', [user.id])
  t.same((await confirm(ctx, token)).json(), INVALID)
  t.ok(await login(ctx.app, email), 'the password did not change')
})

t.test('one confirm wins: any other reset token of the user dies with it', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email } = await newSession(ctx)
  const first = await resetToken(ctx, smtp, email)
  const second = await resetToken(ctx, smtp, email)
  t.not(first, second)
  t.equal((await confirm(ctx, second)).statusCode, 204)
  t.same((await confirm(ctx, first, 'another new passphrase')).json(), INVALID, 'the older mail is worthless now')
})

t.test('ten concurrent confirms of one token: exactly one wins', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email } = await newSession(ctx)
  const token = await resetToken(ctx, smtp, email)
  const passwords = Array.from({ length: 10 }, (_, i) => `concurrent passphrase ${i}`)
  const answers = await Promise.all(passwords.map((password) => confirm(ctx, token, password)))
  const winners = answers.flatMap((res, i) => (res.statusCode === 204 ? [passwords[i]!] : []))
  t.equal(winners.length, 1, 'one 204')
  t.same(answers.filter((res) => res.statusCode !== 204).map((res) => res.json()), Array(9).fill(INVALID), 'nine invalid_reset_token')
  t.ok(await login(ctx.app, email, winners[0]), "the winner's password is the one set")
})

t.test('a password change kills outstanding reset tokens', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email, token: session } = await newSession(ctx)
  const token = await resetToken(ctx, smtp, email)
  const changed = await call(ctx.app, 'PUT', '/me/password', session, { current_password: PASSWORD, new_password: 'changed in the app' })
  t.equal(changed.statusCode, 204)
  t.same((await confirm(ctx, token)).json(), INVALID)
  t.ok(await login(ctx.app, email, 'changed in the app'))
})

t.test("a token resets its own user's password, whoever sends it", async (t) => {
  const { smtp, ctx } = await setUp(t)
  const alice = await newSession(ctx)
  const bob = await newSession(ctx)
  const token = await resetToken(ctx, smtp, alice.email)
  const res = await ctx.app.inject({ method: 'POST', url: '/password-resets/confirm', headers: { authorization: `Token token=${bob.token}` }, payload: { token, password: NEW_PASSWORD } })
  t.equal(res.statusCode, 204)
  t.ok(await login(ctx.app, alice.email, NEW_PASSWORD), "Alice's password changed")
  t.ok(await login(ctx.app, bob.email), "Bob's did not")
  t.equal((await me(ctx.app, `Token token=${bob.token}`)).statusCode, 200, "and Bob's session lives")
})

t.test('a deleted user takes their tokens along', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email, token: session } = await newSession(ctx)
  const token = await resetToken(ctx, smtp, email)
  t.equal((await ctx.app.inject({ method: 'DELETE', url: '/me', headers: { authorization: `Token token=${session}` }, payload: { password: PASSWORD } })).statusCode, 204)
  t.same((await confirm(ctx, token)).json(), INVALID)
  await signUp(ctx.app, email)
  t.same((await confirm(ctx, token)).json(), INVALID, 'not even for a new account with the same email')
})

t.test('a verification token is no reset token', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const email = ctx.email()
  await signUp(ctx.app, email)
  const verification = codeOf(await mailAfter(smtp, email, 0, VERIFY))
  t.same((await confirm(ctx, verification)).json(), INVALID)
  t.ok(await login(ctx.app, email), 'the password did not change')
})

t.test('a reset lets the owner back in from the network that was locked out', async (t) => {
  const { smtp, ctx } = await setUp(t, { LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: '3', LOGIN_MAX_FAILURES_PER_ACCOUNT: '5' })
  const { email } = await newSession(ctx)
  const attempt = (password: string, ip: string) => ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password }, remoteAddress: ip })
  for (let i = 0; i < 3; i++) t.equal((await attempt('forgotten, wrong', '10.1.0.1')).statusCode, 401)
  for (let i = 0; i < 2; i++) t.equal((await attempt('a stranger guessing', '10.2.0.1')).statusCode, 401)
  t.equal((await attempt(PASSWORD, '10.1.0.1')).statusCode, 429, "the owner's network is locked out")
  const seen = smtp.mails.length
  t.equal((await requestReset(ctx, email, '10.1.0.1')).statusCode, 202)
  const token = codeOf(await mailAfter(smtp, email, seen))
  t.equal((await ctx.app.inject({ method: 'POST', url: '/password-resets/confirm', payload: { token, password: NEW_PASSWORD }, remoteAddress: '10.1.0.9' })).statusCode, 204)
  t.equal((await attempt(NEW_PASSWORD, '10.1.0.1')).statusCode, 201, 'in again from there with the new password')
  t.equal((await attempt('still guessing', '10.3.0.1')).statusCode, 401, "and the account's overall count started afresh")
})

t.test('requests are limited per email and network (known or not) and per address, and an over-limit address spends nothing else', async (t) => {
  const { smtp, ctx } = await setUp(t, { MAIL_MAX_PER_EMAIL: '2', MAIL_MAX_PER_IP: '3' })
  const { email } = await newSession(ctx)
  const stranger = ctx.email()
  for (const who of [email, stranger]) {
    t.equal((await requestReset(ctx, who, '10.0.0.1')).statusCode, 202)
    t.equal((await requestReset(ctx, who.toUpperCase(), '10.0.0.2')).statusCode, 202)
    const refused = await requestReset(ctx, ` ${who} `, '10.0.0.3')
    t.equal(refused.statusCode, 429, `the third from one network for ${who === email ? 'a known' : 'an unknown'} email, in any spelling`)
    t.equal(refused.json().error, 'too_many_requests')
    t.ok(Number(refused.headers['retry-after']) > 0)
  }
  for (let i = 0; i < 3; i++) t.equal((await requestReset(ctx, ctx.email(), '10.9.0.9')).statusCode, 202)
  t.equal((await requestReset(ctx, ctx.email(), '10.9.0.9')).statusCode, 429, 'the fourth from one address')
  const victim = await newSession(ctx)
  for (let i = 0; i < 5; i++) t.equal((await requestReset(ctx, victim.email, '10.9.0.9')).statusCode, 429, 'an address over its limit...')
  await ctx.app.accountMail!.idle()
  const seen = smtp.mails.length
  t.equal((await requestReset(ctx, victim.email, '192.0.2.1')).statusCode, 202, "...has spent nothing of the victim's budget")
  t.ok(codeOf(await mailAfter(smtp, victim.email, seen)), 'and the mail goes out')
})

t.test("strangers cannot use up the owner's resets: the inbox cap spares the networks the account knows", async (t) => {
  const { smtp, ctx } = await setUp(t, { MAIL_MAX_PER_EMAIL: '2' })
  const { email } = await newSession(ctx) // signed in from 127.0.0.1: a network the account knows
  for (let net = 1; net <= 6; net++) t.equal((await requestReset(ctx, email, `10.${net}.0.1`)).statusCode, 202, `a stranger's network ${net}: 202 all the same`)
  await ctx.app.accountMail!.idle()
  await sleep(200)
  const resets = () => smtp.mails.filter((mail) => mail.subject === RESET && mail.to.includes(email)).length
  t.ok(resets() <= 2, `the inbox got at most MAIL_MAX_PER_EMAIL mails in all (${resets()} resets, beside the sign-up's verification)`)
  const metrics = (await ctx.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /gatehouse_mail_total\{kind="password-reset",outcome="dropped",reason="recipient"\} [1-9]/, 'the rest were dropped, and counted')
  const seen = smtp.mails.length
  t.equal((await requestReset(ctx, email, '127.0.0.1')).statusCode, 202)
  t.ok(codeOf(await mailAfter(smtp, email, seen)), 'the owner, from a network the account knows, still gets the mail')
})

t.test('past MAIL_MAX_PER_HOUR, requests answer as usual but mails are dropped and counted', async (t) => {
  const { smtp, ctx } = await setUp(t, { MAIL_MAX_PER_HOUR: '1' })
  // Signed up directly: sign-up's verification mails would use the budget up first.
  const users = await Promise.all([1, 2, 3].map(async () => {
    const email = ctx.email()
    await sql('INSERT INTO users (id, email, password_hash, updated_at) VALUES (gen_random_uuid(), $1, $2, now())', [email, 'x'])
    return email
  }))
  for (const email of users) t.equal((await requestReset(ctx, email)).statusCode, 202)
  await ctx.app.accountMail!.idle()
  await sleep(200)
  t.equal(smtp.mails.length, 1, 'one mail in all')
  const metrics = (await ctx.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /gatehouse_mail_total\{kind="password-reset",outcome="dropped",reason="budget"\} 2/)
  t.match(metrics, /gatehouse_mail_total\{kind="password-reset",outcome="sent",reason=""\} 1/)
})

t.test('sign-ups do not use up the resets: each kind has its own hourly budget', async (t) => {
  const { smtp, ctx } = await setUp(t, { MAIL_MAX_PER_HOUR: '1' })
  const first = ctx.email()
  await signUp(ctx.app, first)
  await signUp(ctx.app, ctx.email()) // its verification mail is over the budget
  await ctx.app.accountMail!.idle()
  t.equal(smtp.mails.filter((mail) => mail.subject === VERIFY).length, 1, 'one verification mail')
  t.equal((await requestReset(ctx, first)).statusCode, 202)
  t.ok(codeOf(await mailAfter(smtp, first, 0)), 'and still a reset')
})

t.test('wrong tokens count against the address, as wrong passwords do; a right one does not', async (t) => {
  const { smtp, ctx } = await setUp(t, { LOGIN_MAX_FAILURES_PER_IP: '3' })
  const { email } = await newSession(ctx)
  const token = await resetToken(ctx, smtp, email)
  const from = (ip: string, candidate: string, url = '/password-resets/confirm') =>
    ctx.app.inject({ method: 'POST', url, payload: url.startsWith('/password') ? { token: candidate, password: NEW_PASSWORD } : { token: candidate }, remoteAddress: ip })
  t.same((await from('10.5.0.1', 'x'.repeat(43))).json(), INVALID)
  t.equal((await from('10.5.0.1', 'y'.repeat(43), '/email-verifications/confirm')).statusCode, 400)
  t.same((await from('10.5.0.1', 'z'.repeat(43))).json(), INVALID)
  const refused = await from('10.5.0.1', token)
  t.equal(refused.statusCode, 429, 'the fourth try from that address, the right token too')
  t.ok(Number(refused.headers['retry-after']) > 0)
  t.equal((await from('10.5.0.2', token)).statusCode, 204, 'another address is not affected')
  const again = await resetToken(ctx, smtp, email)
  for (let i = 0; i < 3; i++) {
    const next = i === 0 ? again : await resetToken(ctx, smtp, email)
    t.equal((await ctx.app.inject({ method: 'POST', url: '/password-resets/confirm', payload: { token: next, password: `passphrase number ${i}` }, remoteAddress: '10.6.0.1' })).statusCode, 204, 'right tokens are not counted')
  }
})

t.test('a reset confirms the email: the mail reached its owner', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email, user } = await newSession(ctx)
  t.equal((await confirm(ctx, await resetToken(ctx, smtp, email))).statusCode, 204)
  const [row] = await sql<{ at: Date | null }>('SELECT email_verified_at AS at FROM users WHERE id = $1', [user.id])
  t.ok(row?.at, 'email_verified_at is set')
})

t.test('a reset and a deletion of the same user at once: each succeeds or is refused cleanly, never a deadlock', async (t) => {
  const { smtp, ctx } = await setUp(t)
  for (let round = 0; round < 6; round++) {
    const { email, token: session } = await newSession(ctx)
    const token = await resetToken(ctx, smtp, email)
    const [reset, deletion] = await Promise.all([
      confirm(ctx, token),
      ctx.app.inject({ method: 'DELETE', url: '/me', headers: { authorization: `Token token=${session}` }, payload: { password: PASSWORD } }),
    ])
    t.ok([204, 400].includes(reset.statusCode), `round ${round}: the reset ${reset.statusCode} ${reset.statusCode >= 500 ? reset.body : ''}`)
    t.ok([204, 401].includes(deletion.statusCode), `round ${round}: the deletion ${deletion.statusCode} ${deletion.statusCode >= 500 ? deletion.body : ''}`)
  }
})

t.test('SMTP down: the answer is the same 202, at once; the mail is retried, then dropped and counted', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email } = await newSession(ctx)
  await ctx.app.accountMail!.idle()
  smtp.behave('refuse')
  const started = Date.now()
  const res = await requestReset(ctx, email)
  t.equal(res.statusCode, 202)
  t.ok(Date.now() - started < 2000, 'answered without waiting on SMTP')
  await ctx.app.accountMail!.idle()
  const metrics = (await ctx.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /gatehouse_mail_total\{kind="password-reset",outcome="dropped",reason="refused"\} 1/, 'a 550 is dropped at once')
})

t.test('slow SMTP never holds up the request', async (t) => {
  const { smtp, ctx } = await setUp(t)
  const { email } = await newSession(ctx)
  await ctx.app.accountMail!.idle()
  const seen = smtp.mails.length
  smtp.behave('slow', 3000)
  const started = Date.now()
  t.equal((await requestReset(ctx, email)).statusCode, 202)
  t.ok(Date.now() - started < 1500, `answered in ${Date.now() - started} ms while the server takes 3 s`)
  t.ok(codeOf(await mailAfter(smtp, email, seen, RESET, 10_000)), 'the mail arrives later')
})

t.test('with no account mail, the reset routes are not there', async (t) => {
  const ctx = await buildTestApp(t, { MAIL_TRANSPORT: 'off' })
  for (const url of ['/password-resets', '/password-resets/confirm', '/email-verifications', '/email-verifications/confirm']) {
    t.equal((await ctx.app.inject({ method: 'POST', url, payload: {} })).statusCode, 404, url)
  }
})
