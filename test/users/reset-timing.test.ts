import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { signUp } from '../helpers/http.js'
import { startSmtpServer } from '../helpers/smtp.js'
import { sleep } from '../helpers/wait.js'

// POST /password-resets must take as long for an email with an account as for one without, or it
// answers whether an account exists. As login-timing.test.ts: alternating samples, compared as
// distributions. What differs between the two (a token, a mail) runs after the answer; each
// sample waits for it to finish, so that it is the answer that is timed, not the machine's load.

const SAMPLES = 40

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

t.test('a known and an unknown email take the same time at POST /password-resets', async (t) => {
  const smtp = await startSmtpServer(t)
  const ctx = await buildTestApp(t, { SMTP_URL: smtp.url, MAIL_MAX_PER_EMAIL: '1000', MAIL_MAX_PER_IP: '100000', MAIL_MAX_PER_HOUR: '100000' })
  const known = ctx.email()
  await signUp(ctx.app, known)
  const time = async (email: string) => {
    await ctx.app.accountMail!.idle()
    // And a moment for the test's own SMTP server, in this process, to parse what it got.
    await sleep(25)
    const started = process.hrtime.bigint()
    const res = await ctx.app.inject({ method: 'POST', url: '/password-resets', payload: { email } })
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    t.equal(res.statusCode, 202)
    t.equal(res.body, '{"status":"accepted"}')
    return ms
  }
  for (let i = 0; i < 5; i++) await time(i % 2 ? known : ctx.email()) // warm up: connections, JIT
  const knownEmail: number[] = []
  const unknownEmail: number[] = []
  for (let i = 0; i < SAMPLES; i++) {
    knownEmail.push(await time(known))
    unknownEmail.push(await time(ctx.email()))
  }
  await ctx.app.accountMail!.idle()
  t.ok(smtp.mails.length >= SAMPLES, 'the known email did get its mails')
  knownEmail.sort((a, b) => a - b)
  unknownEmail.sort((a, b) => a - b)
  const [k25, k50] = [0.25, 0.5].map((q) => quantile(knownEmail, q))
  const [u25, u50] = [0.25, 0.5].map((q) => quantile(unknownEmail, q))
  const summary = `known p25/p50 ${k25!.toFixed(2)}/${k50!.toFixed(2)} ms, unknown ${u25!.toFixed(2)}/${u50!.toFixed(2)} ms`
  t.ok(u50! / k50! > 0.75 && u50! / k50! < 1.33, `medians within 25%: ratio ${(u50! / k50!).toFixed(3)} (${summary})`)
  t.ok(u25! / k25! > 0.75 && u25! / k25! < 1.33, `fast quartiles within 25% too: ratio ${(u25! / k25!).toFixed(3)}`)
})
