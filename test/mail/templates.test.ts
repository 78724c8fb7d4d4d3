import t from 'tap'
import { linkFor, passwordResetMail, verificationMail } from '../../src/mail/templates.js'
import { codeOf } from '../helpers/smtp.js'

const TOKEN = 'k3Y-t0k_en.42'
const LINK = 'https://app.example.test/reset?token=k3Y-t0k_en.42'

t.test('each kind has its subject, its kind, and the recipient it was made for', async (t) => {
  const reset = passwordResetMail('alice@example.test', TOKEN, LINK, 30)
  t.match(reset, { kind: 'password-reset', to: 'alice@example.test', subject: 'Reset your password' })
  const verify = verificationMail('alice@example.test', TOKEN, LINK, 1440)
  t.match(verify, { kind: 'email-verification', to: 'alice@example.test', subject: 'Confirm your email address' })
  t.match(reset.text, /choose a new password/)
  t.match(verify.text, /confirm/)
})

t.test('the text part has the code on a line of its own, exactly "Code: <token>"', async (t) => {
  for (const mail of [passwordResetMail('a@x.test', TOKEN, LINK, 30), verificationMail('a@x.test', TOKEN, null, 30)]) {
    t.ok(mail.text.split('\n').includes(`Code: ${TOKEN}`), mail.kind)
    t.equal(codeOf(mail), TOKEN, mail.kind)
  }
})

t.test('the link, the validity and the way out are in both parts', async (t) => {
  const mail = passwordResetMail('alice@example.test', TOKEN, LINK, 30)
  t.ok(mail.text.split('\n').includes(LINK), 'the link on a line of its own')
  t.match(mail.text, 'valid for 30 minutes')
  t.match(mail.text, 'If you did not ask for this, ignore this mail')
  t.match(mail.html, `href="https://app.example.test/reset?token=${TOKEN}"`)
  t.match(mail.html, 'valid for 30 minutes')
  t.match(mail.html, 'If you did not ask for this, ignore this mail')
  t.match(verificationMail('a@x.test', TOKEN, LINK, 1440).text, 'valid for 24 hours')
  t.match(verificationMail('a@x.test', TOKEN, LINK, 1).text, 'valid for 1 minute.')
  t.match(verificationMail('a@x.test', TOKEN, LINK, 90).text, 'valid for 90 minutes')
})

t.test('with no link the mail shows only the code', async (t) => {
  for (const mail of [passwordResetMail('a@x.test', TOKEN, null, 30), verificationMail('a@x.test', TOKEN, null, 30)]) {
    t.notMatch(mail.text, /https?:|link/i, mail.kind)
    t.notMatch(mail.html, /<a |href|link/i, mail.kind)
    t.match(mail.text, 'The code is valid for 30 minutes', mail.kind)
    t.match(mail.html, `<code>${TOKEN}</code>`, mail.kind)
    t.equal(codeOf(mail), TOKEN)
  }
})

t.test('every interpolated value is HTML-escaped, the link in href and in text alike', async (t) => {
  const to = '"<script>"@x.test'
  const link = 'https://app.example.test/r?a=1&b="2"&t=<x>'
  const token = '<b>&"\''
  const { html, text } = passwordResetMail(to, token, link, 30)
  t.notMatch(html, '<script>')
  t.notMatch(html, '<b>')
  t.notMatch(html, '<x>')
  t.match(html, '&quot;&lt;script&gt;&quot;@x.test')
  t.match(html, 'href="https://app.example.test/r?a=1&amp;b=&quot;2&quot;&amp;t=&lt;x&gt;"')
  t.match(html, '>https://app.example.test/r?a=1&amp;b=&quot;2&quot;&amp;t=&lt;x&gt;</a>')
  t.match(html, '<code>&lt;b&gt;&amp;&quot;&#39;</code>')
  // Exactly one element of each kind the template writes: nothing a value brought in.
  t.equal(html.match(/<a /g)?.length, 1)
  t.equal(html.match(/"/g)?.length, html.match(/="/g)!.length * 2, 'every double quote delimits an attribute')
  // The text part is not HTML: the values are there as they are.
  t.match(text, `  ${to}\n`)
  t.ok(text.split('\n').includes(link))
  t.ok(text.split('\n').includes(`Code: ${token}`))
})

t.test('text lines stay under 78 characters, except the address, link and code lines', async (t) => {
  const to = `${'a'.repeat(90)}@example.test`
  const link = `https://app.example.test/${'p'.repeat(100)}?token={token}`
  const token = 'T'.repeat(100)
  for (const mail of [
    passwordResetMail(to, token, linkFor(link, token), 43_200),
    verificationMail(to, token, linkFor(link, token), 43_199),
    passwordResetMail(to, token, null, 30),
  ]) {
    // The values are long on purpose: a sentence that took one in would be caught here.
    const allowed = new Set([`  ${to}`, linkFor(link, token), `Code: ${token}`])
    const long = mail.text.split('\n').filter((line) => line.length >= 78)
    t.same(long.filter((line) => !allowed.has(line)), [], mail.kind)
    t.ok(long.length >= 2, 'the long values did make long lines')
  }
})

t.test('linkFor fills every {token} with the URL-encoded token', async (t) => {
  t.equal(linkFor('https://app.example.test/reset?token={token}', 'abc'), 'https://app.example.test/reset?token=abc')
  t.equal(linkFor('https://x.test/{token}?again={token}', 'a/b&c=d e+f?'), 'https://x.test/a%2Fb%26c%3Dd%20e%2Bf%3F?again=a%2Fb%26c%3Dd%20e%2Bf%3F')
  t.equal(linkFor(null, 'abc'), null)
  t.throws(() => linkFor('https://x.test/reset', 'abc'), /must contain \{token\}/)
})
