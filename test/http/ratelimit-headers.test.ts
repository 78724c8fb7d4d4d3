import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { call, newSession, PASSWORD, signUp } from '../helpers/http.js'

// The RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers-11) on the
// limited routes, against the real limits (as throttling.test.ts: '' means the default), read with
// a strict parser of their Structured Field syntax. What they must never tell: whether an email
// has an account, and anything of attempts made from another network.

const DEFAULT_LIMITS = { LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: '', LOGIN_MAX_FAILURES_PER_ACCOUNT: '', LOGIN_MAX_FAILURES_PER_IP: '', SIGNUP_MAX_PER_IP: '', TRUST_PROXY: 'true' }
const LOGIN_POLICY = '"login";q=10;w=900, "login-ip";q=100;w=900'

const from = (ip: string) => ({ 'x-forwarded-for': ip })
const loginAs = (ctx: TestContext, email: string, password: string, ip: string) =>
  ctx.app.inject({ method: 'POST', url: '/sessions', headers: from(ip), payload: { email, password } })

interface Item { name: string, params: Record<string, number> }

/**
 * A Structured Field List (RFC 9651 section 3.1) whose members are Strings with Integer
 * parameters, as both fields are: anything else (a token, a missing quote, a decimal, a repeated
 * or unexpected parameter, a stray comma) throws. `keys`: the parameters each item must have, exactly.
 */
function parseList (value: string | undefined, keys: string[]): Item[] {
  if (value === undefined) throw new Error('no such field')
  const items: Item[] = []
  let rest = value
  const take = (pattern: RegExp) => {
    const match = pattern.exec(rest)
    if (!match) throw new Error(`malformed at ${JSON.stringify(rest)} in ${JSON.stringify(value)}`)
    rest = rest.slice(match[0].length)
    return match
  }
  for (;;) {
    const name = take(/^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"/)[1]!.replace(/\\(["\\])/g, '$1')
    const params: Record<string, number> = {}
    while (rest.startsWith(';')) {
      const [, key, integer] = take(/^; *([a-z*][a-z0-9_.*-]*)=(-?\d{1,15})(?![\d.])/)
      if (key! in params) throw new Error(`parameter ${key} twice in ${value}`)
      params[key!] = Number(integer)
    }
    if (Object.keys(params).sort().join() !== [...keys].sort().join()) throw new Error(`parameters ${Object.keys(params)} of ${name}, not ${keys}`)
    items.push({ name, params })
    if (rest === '') return items
    take(/^[ \t]*,[ \t]*(?=.)/)
  }
}

const policiesOf = (res: LightMyRequestResponse) => parseList(res.headers['ratelimit-policy'] as string | undefined, ['q', 'w'])
const limitsOf = (res: LightMyRequestResponse) => parseList(res.headers.ratelimit as string | undefined, ['r', 't'])
/** `{ policy: r }` of an answer's RateLimit field. */
const remaining = (res: LightMyRequestResponse) => Object.fromEntries(limitsOf(res).map(({ name, params }) => [name, params.r]))

/** A 429's RateLimit: only the refusing policy, with r=0 and t = Retry-After. */
function assertRefused (t: Test, res: LightMyRequestResponse, policy: string, what: string) {
  t.equal(res.statusCode, 429, what)
  const retryAfter = Number(res.headers['retry-after'])
  t.ok(retryAfter >= 1, `${what}: Retry-After ${retryAfter}`)
  t.same(limitsOf(res), [{ name: policy, params: { r: 0, t: retryAfter } }], `${what}: RateLimit "${policy}";r=0;t=${retryAfter}`)
}

t.test('the strict parser takes the fields as specified and nothing else', async (t) => {
  t.same(parseList('"login";q=10;w=900, "login-ip";q=100;w=900', ['q', 'w']), [{ name: 'login', params: { q: 10, w: 900 } }, { name: 'login-ip', params: { q: 100, w: 900 } }])
  t.same(parseList('"a";r=0;t=1,"b";t=2;r=3', ['r', 't']), [{ name: 'a', params: { r: 0, t: 1 } }, { name: 'b', params: { r: 3, t: 2 } }])
  for (const bad of ['login;q=10;w=900', '"login";q=10', '"login";q=10;w=900;q=1', '"login";q=1.5;w=900', '"login";q=10;w=900,', '"login";q=10;w=900 x', '"login";Q=10;w=900', '"login;q=10;w=900', '', '"a";q=1;w=1,,"b";q=1;w=1']) {
    t.throws(() => parseList(bad, ['q', 'w']), `refuses ${JSON.stringify(bad)}`)
  }
  t.throws(() => parseList(undefined, ['q', 'w']), 'and a missing field')
})

t.test('a login counts down in RateLimit: the caller sees its tries left before the lockout', async (t) => {
  const ctx = await buildTestApp(t, DEFAULT_LIMITS)
  const email = ctx.email()
  await signUp(ctx.app, email)
  const seen = []
  for (let i = 0; i < 10; i++) {
    const res = await loginAs(ctx, email, 'wrong password', '203.0.113.7')
    t.equal(res.statusCode, 401)
    t.equal(res.headers['ratelimit-policy'], LOGIN_POLICY, 'RateLimit-Policy: the same two policies on every answer')
    const [login, address] = limitsOf(res)
    t.equal(login!.name, 'login')
    t.equal(address!.name, 'login-ip')
    t.ok(login!.params.t! > 890 && login!.params.t! <= 900, `t is the rest of the window (${login!.params.t})`)
    seen.push([login!.params.r, address!.params.r])
  }
  t.same(seen, Array.from({ length: 10 }, (_, i) => [9 - i, 99 - i]), 'r goes 9..0 for the email from here, 99..90 for the address')
  const locked = await loginAs(ctx, email, 'wrong password', '203.0.113.7')
  assertRefused(t, locked, 'login', 'the 11th')
  t.equal(locked.headers['ratelimit-policy'], LOGIN_POLICY, 'the 429 names the same policies')
  assertRefused(t, await loginAs(ctx, email, PASSWORD, '203.0.113.7'), 'login', 'the right password waits too')

  const me = await call(ctx.app, 'GET', '/me', (await loginAs(ctx, email, PASSWORD, '198.51.100.4')).json().token)
  t.equal(me.statusCode, 200)
  t.notOk('ratelimit' in me.headers || 'ratelimit-policy' in me.headers, 'an unlimited route has neither field')
})

t.test('a success gives the network its whole quota back, and the address its attempt', async (t) => {
  const ctx = await buildTestApp(t, DEFAULT_LIMITS)
  const email = ctx.email()
  await signUp(ctx.app, email)
  for (let i = 0; i < 3; i++) await loginAs(ctx, email, 'a typo', '198.51.100.4')
  const ok = await loginAs(ctx, email, PASSWORD, '198.51.100.4')
  t.equal(ok.statusCode, 201)
  t.equal(ok.headers['ratelimit-policy'], LOGIN_POLICY)
  const [login, address] = limitsOf(ok)
  t.same(login, { name: 'login', params: { r: 10, t: 900 } }, 'the count is cleared: 10 for a whole window')
  t.equal(address!.name, 'login-ip')
  t.equal(address!.params.r, 97, 'the three failures still count for the address, the success does not')
  t.same(remaining(await loginAs(ctx, email, 'a typo', '198.51.100.4')), { login: 9, 'login-ip': 96 }, 'and the next failure counts from there')
})

t.test('an unknown email gets the same fields as one with an account', async (t) => {
  const ctx = await buildTestApp(t, DEFAULT_LIMITS)
  const known = ctx.email()
  await signUp(ctx.app, known)
  const unknown = ctx.email()
  // The same sequence from two addresses of two networks, interleaved so that the windows start together.
  const steps = [...Array(10).fill('a guess'), 'a guess', PASSWORD]
  for (const [i, password] of steps.entries()) {
    const [a, b] = [await loginAs(ctx, known, password, '192.0.2.10'), await loginAs(ctx, unknown, password, '198.18.0.10')]
    t.equal(a.statusCode, b.statusCode, `step ${i + 1}: the same status (${a.statusCode})`)
    t.equal(a.headers['ratelimit-policy'], b.headers['ratelimit-policy'], `step ${i + 1}: the same RateLimit-Policy`)
    const [la, lb] = [limitsOf(a), limitsOf(b)]
    t.same(la.map(({ name, params }) => [name, params.r]), lb.map(({ name, params }) => [name, params.r]), `step ${i + 1}: the same policies and counts`)
    // Only the clock can differ: the two requests may fall on either side of a second.
    la.forEach((item, j) => t.ok(Math.abs(item.params.t! - lb[j]!.params.t!) <= 1, `step ${i + 1}: t within a second`))
  }
})

t.test('no field reflects attempts from another network', async (t) => {
  const ctx = await buildTestApp(t, { ...DEFAULT_LIMITS, LOGIN_MAX_FAILURES_PER_ACCOUNT: '15' })
  const { email } = await newSession(ctx)
  // A stranger uses up their network, and more of the account's overall count from another.
  for (let i = 0; i < 10; i++) await loginAs(ctx, email, 'a guess', `203.0.113.${i + 1}`)
  assertRefused(t, await loginAs(ctx, email, 'a guess', '203.0.113.99'), 'login', 'the stranger\'s network is locked')
  for (let i = 0; i < 3; i++) await loginAs(ctx, email, 'a guess', '192.0.2.1')

  // 13 failures of 15 overall; from a third network, only that network's and that address's counts show.
  const elsewhere = await loginAs(ctx, email, 'a typo', '198.51.100.4')
  t.equal(elsewhere.statusCode, 401)
  t.equal(elsewhere.headers['ratelimit-policy'], LOGIN_POLICY, 'the overall limit is no policy of the caller\'s')
  t.same(remaining(elsewhere), { login: 9, 'login-ip': 99 }, 'its own full quota, less this one attempt: nothing of the 13 others')
  t.same(remaining(await loginAs(ctx, email, 'a typo', '198.51.100.5')), { login: 8, 'login-ip': 99 }, 'the same /24 is the same network; another address its own')
  // The 16th failure overall meets the backstop, which the 429 itself has always told.
  assertRefused(t, await loginAs(ctx, email, 'a typo', '198.51.100.4'), 'login', 'past the overall limit, a 429 as before, shown as the email\'s own policy')
})

t.test('PUT /me/password and DELETE /me tell the same policies', async (t) => {
  const ctx = await buildTestApp(t, DEFAULT_LIMITS)
  const { email, token } = await newSession(ctx)
  const change = await call(ctx.app, 'PUT', '/me/password', token, { current_password: 'wrong', new_password: 'a brand new passphrase' })
  t.equal(change.statusCode, 401)
  t.equal(change.json().error, 'invalid_password')
  t.equal(change.headers['ratelimit-policy'], LOGIN_POLICY)
  t.same(remaining(change), { login: 9, 'login-ip': 99 })
  const deletion = await call(ctx.app, 'DELETE', '/me', token, { password: 'wrong' })
  t.equal(deletion.statusCode, 401)
  t.equal(deletion.headers['ratelimit-policy'], LOGIN_POLICY)
  t.same(remaining(deletion), { login: 8, 'login-ip': 98 }, 'the count a login from here would meet')
  t.same(remaining(await loginAs(ctx, email, 'wrong', '127.0.0.1')), { login: 7, 'login-ip': 97 }, 'shared with logins')
  const changed = await call(ctx.app, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: 'a brand new passphrase' })
  t.equal(changed.statusCode, 204)
  t.same(limitsOf(changed), [{ name: 'login', params: { r: 10, t: 900 } }, { name: 'login-ip', params: { r: 97, t: limitsOf(changed)[1]!.params.t } }], 'a right password clears the count, as a login')
})

t.test('sign-up: "signup" per address, on 201, 409 and 429', async (t) => {
  const ctx = await buildTestApp(t, { ...DEFAULT_LIMITS, SIGNUP_MAX_PER_IP: '3' })
  const email = ctx.email()
  const signUpAs = (address: string) => ctx.app.inject({ method: 'POST', url: '/users', payload: { email: address, password: PASSWORD } })
  const created = await signUpAs(email)
  t.equal(created.statusCode, 201)
  t.same(policiesOf(created), [{ name: 'signup', params: { q: 3, w: 3600 } }])
  const [first] = limitsOf(created)
  t.equal(first!.params.r, 2)
  t.ok(first!.params.t! > 3590 && first!.params.t! <= 3600, `t ${first!.params.t}`)
  const taken = await signUpAs(email)
  t.equal(taken.statusCode, 409)
  t.same(remaining(taken), { signup: 1 }, 'a taken email counts, and says so')
  t.same(remaining(await signUpAs(ctx.email())), { signup: 0 })
  const refused = await signUpAs(ctx.email())
  assertRefused(t, refused, 'signup', 'the fourth')
  t.equal(refused.headers['ratelimit-policy'], '"signup";q=3;w=3600')
})

t.test('reset and verification requests: "mail" per email from this network, "mail-ip" per address, alike for unknown emails', async (t) => {
  const mailDir = await mkdtemp(join(tmpdir(), 'gatehouse-ratelimit-mail-'))
  t.teardown(() => rm(mailDir, { recursive: true, force: true }))
  const ctx = await buildTestApp(t, { ...DEFAULT_LIMITS, MAIL_TRANSPORT: 'files', MAIL_DIR: mailDir })
  const known = ctx.email()
  await signUp(ctx.app, known)
  const unknown = ctx.email()
  const ask = (url: string, email: string, ip: string) => ctx.app.inject({ method: 'POST', url, headers: from(ip), payload: { email } })
  const MAIL_POLICY = '"mail";q=5;w=3600, "mail-ip";q=20;w=3600'
  for (let i = 0; i < 5; i++) {
    const url = i % 2 ? '/email-verifications' : '/password-resets'
    const [a, b] = [await ask(url, known, '192.0.2.20'), await ask(url, unknown, '198.18.0.20')]
    t.equal(a.statusCode, 202)
    t.equal(b.statusCode, 202)
    t.equal(a.headers['ratelimit-policy'], MAIL_POLICY)
    t.equal(b.headers['ratelimit-policy'], MAIL_POLICY)
    t.same(remaining(a), { mail: 4 - i, 'mail-ip': 19 - i }, `${url}: both kinds count together`)
    t.same(remaining(b), remaining(a), 'the same for an email without an account')
  }
  assertRefused(t, await ask('/password-resets', known, '192.0.2.20'), 'mail', 'the sixth for the email from that network')
  assertRefused(t, await ask('/password-resets', unknown, '198.18.0.20'), 'mail', 'and for the unknown one')
  t.same(remaining(await ask('/password-resets', known, '203.0.113.20')), { mail: 4, 'mail-ip': 19 }, 'another network has its own budget for the email, and sees nothing of the others\'')
})

t.test('mailed token confirmations: "token-ip" counts wrong tokens per address', async (t) => {
  const mailDir = await mkdtemp(join(tmpdir(), 'gatehouse-ratelimit-mail-'))
  t.teardown(() => rm(mailDir, { recursive: true, force: true }))
  const ctx = await buildTestApp(t, { ...DEFAULT_LIMITS, LOGIN_MAX_FAILURES_PER_IP: '3', MAIL_TRANSPORT: 'files', MAIL_DIR: mailDir })
  const reset = await ctx.app.inject({ method: 'POST', url: '/password-resets/confirm', headers: from('192.0.2.30'), payload: { token: 'not a token', password: 'a brand new passphrase' } })
  t.equal(reset.statusCode, 400)
  t.equal(reset.json().error, 'invalid_reset_token')
  t.equal(reset.headers['ratelimit-policy'], '"token-ip";q=3;w=900')
  const [counted] = limitsOf(reset)
  t.equal(counted!.name, 'token-ip')
  t.equal(counted!.params.r, 2)
  t.ok(counted!.params.t! > 890 && counted!.params.t! <= 900)
  const verify = () => ctx.app.inject({ method: 'POST', url: '/email-verifications/confirm', headers: from('192.0.2.30'), payload: { token: 'not a token either' } })
  const second = await verify()
  t.equal(second.statusCode, 400)
  t.same(remaining(second), { 'token-ip': 1 }, 'both confirmations share the count')
  t.same(remaining(await verify()), { 'token-ip': 0 })
  assertRefused(t, await verify(), 'token-ip', 'the fourth wrong token')
})
