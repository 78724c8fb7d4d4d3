import { createHash } from 'node:crypto'
import t from 'tap'
import { addressKey, networkKey } from '../../src/throttle/client-address.js'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { call, newSession, PASSWORD, signUp } from '../helpers/http.js'

// The brute-force limits, with the defaults (LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK=10,
// LOGIN_MAX_FAILURES_PER_ACCOUNT=100, LOGIN_MAX_FAILURES_PER_IP=100, window 15 min,
// SIGNUP_MAX_PER_IP=20) unless a test says otherwise. '' means "the default" in testConfig.
const DEFAULT_LIMITS = { LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: '', LOGIN_MAX_FAILURES_PER_ACCOUNT: '', LOGIN_MAX_FAILURES_PER_IP: '', SIGNUP_MAX_PER_IP: '' }
const from = (ip: string) => ({ 'x-forwarded-for': ip })

const loginAs = (ctx: TestContext, email: string, password: string, headers: Record<string, string> = {}) =>
  ctx.app.inject({ method: 'POST', url: '/sessions', headers, payload: { email, password } })

t.test('an account gets 10 failed logins per 15 minutes from one network, then 429 with Retry-After', async (t) => {
  const ctx = await buildTestApp(t, DEFAULT_LIMITS)
  for (const [kind, email] of [['a known account', ctx.email()], ['an unknown email', ctx.email()]] as const) {
    if (kind === 'a known account') await signUp(ctx.app, email)
    const statuses = []
    for (let i = 0; i < 10; i++) statuses.push((await loginAs(ctx, email, 'wrong password')).statusCode)
    t.same(statuses, Array(10).fill(401), `${kind}: ten 401s`)
    const locked = await loginAs(ctx, email, 'wrong password')
    t.equal(locked.statusCode, 429, `${kind}: the 11th is refused`)
    t.equal(locked.json().error, 'too_many_requests')
    const retryAfter = Number(locked.headers['retry-after'])
    t.ok(retryAfter > 890 && retryAfter <= 900, `${kind}: Retry-After is the rest of the window (${retryAfter} s)`)
    t.match(locked.json().message, new RegExp(`try again in ${retryAfter} s`))
    // Same answer for an existing and an unknown account: the limit reveals nothing either.
    t.equal((await loginAs(ctx, email, PASSWORD)).statusCode, 429, `${kind}: even the right password waits`)
  }
  // Spelling the email differently is the same account.
  const email = ctx.email()
  for (let i = 0; i < 10; i++) await loginAs(ctx, `  ${i % 2 ? email.toUpperCase() : email} `, 'wrong password')
  t.equal((await loginAs(ctx, email, 'wrong password')).statusCode, 429, 'emails are normalised before counting')
  const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /gatehouse_throttled_total\{limit="login_account_network"\} 5/)
  t.match(metrics.body, /gatehouse_logins_total\{result="throttled"\} 5/)
  t.match(metrics.body, /gatehouse_logins_total\{result="failed"\} 30/)
})

t.test('a successful login clears the count of the account on its network', async (t) => {
  const ctx = await buildTestApp(t, DEFAULT_LIMITS)
  const { email } = await newSession(ctx)
  for (let i = 0; i < 9; i++) t.equal((await loginAs(ctx, email, 'wrong password')).statusCode, 401)
  t.equal((await loginAs(ctx, email, PASSWORD)).statusCode, 201)
  const statuses = []
  for (let i = 0; i < 10; i++) statuses.push((await loginAs(ctx, email, 'wrong password')).statusCode)
  t.same(statuses, Array(10).fill(401), 'ten fresh failures allowed')
  t.equal((await loginAs(ctx, email, PASSWORD)).statusCode, 429)
})

t.test('concurrent guesses cannot slip past the limit', async (t) => {
  const ctx = await buildTestApp(t, DEFAULT_LIMITS)
  const email = ctx.email()
  await signUp(ctx.app, email)
  const answers = await Promise.all(Array.from({ length: 30 }, () => loginAs(ctx, email, 'wrong password')))
  const count = (status: number) => answers.filter((res) => res.statusCode === status).length
  t.equal(count(401), 10, 'exactly ten passwords were checked')
  t.equal(count(429), 20, 'the rest were refused before any check')
})

t.test('a client address gets its own limit across accounts; IPv6 counts by /64', async (t) => {
  const ctx = await buildTestApp(t, { ...DEFAULT_LIMITS, LOGIN_MAX_FAILURES_PER_IP: '5', TRUST_PROXY: 'true' })
  for (let i = 0; i < 5; i++) t.equal((await loginAs(ctx, ctx.email(), 'wrong', from('203.0.113.7'))).statusCode, 401)
  const refused = await loginAs(ctx, ctx.email(), 'wrong', from('203.0.113.7'))
  t.equal(refused.statusCode, 429, 'a sixth account from the same address')
  t.ok(Number(refused.headers['retry-after']) > 0)
  t.equal((await loginAs(ctx, ctx.email(), 'wrong', from('203.0.113.8'))).statusCode, 401, 'another address is not affected')

  for (let i = 0; i < 5; i++) await loginAs(ctx, ctx.email(), 'wrong', from(`2001:db8:1:2::${i + 1}`))
  t.equal((await loginAs(ctx, ctx.email(), 'wrong', from('2001:db8:1:2:ffff:1:2:3'))).statusCode, 429, 'the same /64')
  t.equal((await loginAs(ctx, ctx.email(), 'wrong', from('2001:db8:1:3::1'))).statusCode, 401, 'the next /64 is another client')

  const { email } = await newSession(ctx)
  t.equal((await loginAs(ctx, email, PASSWORD, from('203.0.113.7'))).statusCode, 429, 'a limited address cannot log in at all')
  t.equal((await loginAs(ctx, email, PASSWORD, from('198.51.100.1'))).statusCode, 201, 'and its refusals did not count against the account')
})

t.test('two instances on one Redis share the counts', async (t) => {
  const a = await buildTestApp(t, DEFAULT_LIMITS)
  const b = await buildTestApp(t, { ...DEFAULT_LIMITS, REDIS_KEY_PREFIX: a.config.redisKeyPrefix })
  const email = a.email()
  for (let i = 0; i < 5; i++) await loginAs(a, email, 'wrong')
  for (let i = 0; i < 5; i++) await loginAs(b, email, 'wrong')
  t.equal((await loginAs(a, email, 'wrong')).statusCode, 429)
  t.equal((await loginAs(b, email, 'wrong')).statusCode, 429)
})

t.test('wrong current passwords in PUT /me/password use up the same limits as logins', async (t) => {
  const ctx = await buildTestApp(t, DEFAULT_LIMITS)
  const { email, token } = await newSession(ctx)
  const change = (current: string) => call(ctx.app, 'PUT', '/me/password', token, { current_password: current, new_password: 'a brand new passphrase' })
  for (let i = 0; i < 10; i++) t.equal((await change('wrong password')).statusCode, 401)
  const locked = await change(PASSWORD)
  t.equal(locked.statusCode, 429, 'a stolen session cannot keep guessing')
  t.equal(locked.json().error, 'too_many_requests')
  t.equal((await loginAs(ctx, email, PASSWORD)).statusCode, 429, 'and the account is locked for logins too')
  const me = await call(ctx.app, 'GET', '/me', token)
  t.equal(me.statusCode, 200, 'the session itself is untouched')
})

t.test('a stranger who knows the email cannot lock the owner out from another network', async (t) => {
  const ctx = await buildTestApp(t, { ...DEFAULT_LIMITS, TRUST_PROXY: 'true' })
  const { email } = await newSession(ctx)
  for (let i = 0; i < 10; i++) t.equal((await loginAs(ctx, email, 'a guess', from(`203.0.113.${i + 1}`))).statusCode, 401)
  t.equal((await loginAs(ctx, email, 'a guess', from('203.0.113.77'))).statusCode, 429, 'the stranger\'s network (203.0.113.0/24) is used up')
  t.equal((await loginAs(ctx, email, PASSWORD, from('203.0.113.200'))).statusCode, 429, 'there even the right password waits')

  t.equal((await loginAs(ctx, email, PASSWORD, from('198.51.100.4'))).statusCode, 201, 'the owner at home logs in')
  const statuses = []
  for (let i = 0; i < 10; i++) statuses.push((await loginAs(ctx, email, 'a typo', from('198.51.100.4'))).statusCode)
  t.same(statuses, Array(10).fill(401), 'and has their own ten failures there')
  t.equal((await loginAs(ctx, email, 'a typo', from('198.51.100.4'))).statusCode, 429)

  for (let i = 0; i < 10; i++) await loginAs(ctx, email, 'a guess', from(`2001:db8:1:2::${i + 1}`))
  t.equal((await loginAs(ctx, email, PASSWORD, from('2001:db8:1:2:ffff::1'))).statusCode, 429, 'an IPv6 stranger is one /64')
  t.equal((await loginAs(ctx, email, PASSWORD, from('2001:db8:1:3::1'))).statusCode, 201, 'the next /64 is someone else')
  const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /gatehouse_throttled_total\{limit="login_account_network"\} 4/)
})

t.test('the owner\'s success on a network clears that network\'s count, not the others\'', async (t) => {
  const ctx = await buildTestApp(t, { ...DEFAULT_LIMITS, TRUST_PROXY: 'true' })
  const { email } = await newSession(ctx)
  for (let i = 0; i < 10; i++) await loginAs(ctx, email, 'a guess', from('203.0.113.7'))
  for (let i = 0; i < 9; i++) await loginAs(ctx, email, 'a typo', from('198.51.100.4'))
  t.equal((await loginAs(ctx, email, PASSWORD, from('198.51.100.9'))).statusCode, 201, 'the owner gets in on the tenth try')
  const statuses = []
  for (let i = 0; i < 10; i++) statuses.push((await loginAs(ctx, email, 'a typo', from('198.51.100.4'))).statusCode)
  t.same(statuses, Array(10).fill(401), 'their network starts from zero')
  t.equal((await loginAs(ctx, email, PASSWORD, from('203.0.113.7'))).statusCode, 429, 'the stranger\'s does not')
})

t.test('guessing spread over many networks meets the account\'s overall limit', async (t) => {
  const ctx = await buildTestApp(t, { ...DEFAULT_LIMITS, LOGIN_MAX_FAILURES_PER_ACCOUNT: '25', TRUST_PROXY: 'true' })
  const { email } = await newSession(ctx)
  const statuses = []
  for (let i = 0; i < 25; i++) statuses.push((await loginAs(ctx, email, 'a guess', from(`192.0.${i % 3}.${i + 1}`))).statusCode)
  t.same(statuses, Array(25).fill(401), '25 failures from three networks, under 10 on each')
  const refused = await loginAs(ctx, email, 'a guess', from('198.51.100.4'))
  t.equal(refused.statusCode, 429, 'the 26th is refused from anywhere')
  t.ok(Number(refused.headers['retry-after']) > 890)
  t.equal((await loginAs(ctx, email, PASSWORD, from('198.51.100.4'))).statusCode, 429, 'the right password too: this is the backstop')
  const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /gatehouse_throttled_total\{limit="login_account"\} 2/)
})

t.test('an attacker with many networks cannot keep the owner out of the networks they use', async (t) => {
  // One IPv6 customer's /60 holds sixteen /64s: ten of them use up the account's overall limit.
  const ctx = await buildTestApp(t, { ...DEFAULT_LIMITS, TRUST_PROXY: 'true' })
  const { email } = await newSession(ctx)
  t.equal((await loginAs(ctx, email, PASSWORD, from('198.51.100.7'))).statusCode, 201, 'the owner logs in at home')
  for (let net = 1; net <= 10; net++) {
    for (let i = 1; i <= 10; i++) await loginAs(ctx, email, 'a guess', from(`2001:db8:0:${net.toString(16)}::${i}`))
  }
  t.equal((await loginAs(ctx, email, PASSWORD, from('2001:db8:0:b::1'))).statusCode, 429, 'the attacker\'s eleventh /64: the overall limit holds')
  t.equal((await loginAs(ctx, email, PASSWORD, from('192.0.2.1'))).statusCode, 429, 'and so it does for a network the account has never logged in from')
  t.equal((await loginAs(ctx, email, PASSWORD, from('198.51.100.9'))).statusCode, 201, 'but the owner\'s home network (its /24) is let through')
  for (let i = 0; i < 10; i++) await loginAs(ctx, email, 'a typo', from('198.51.100.7'))
  t.equal((await loginAs(ctx, email, PASSWORD, from('198.51.100.7'))).statusCode, 429, 'where its own count of 10 still applies')
})

t.test('a password change forgets the networks made known with the old password', async (t) => {
  const ctx = await buildTestApp(t, { ...DEFAULT_LIMITS, TRUST_PROXY: 'true' })
  const { email, token } = await newSession(ctx)
  t.equal((await loginAs(ctx, email, PASSWORD, from('203.0.113.7'))).statusCode, 201, 'whoever knew the password logs in from their network')
  const known = `${ctx.config.redisKeyPrefix}throttle:known_networks:${createHash('sha256').update(email).digest('base64url')}`
  t.same(Object.keys(await ctx.redis.hgetall(known)).sort(), ['127.0.0.0/24', '203.0.113.0/24'])
  t.equal((await call(ctx.app, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: 'a brand new passphrase' })).statusCode, 204)
  t.equal(await ctx.redis.exists(known), 0, 'none of them is exempt from the account\'s overall limit any more')
})

t.test('sign-up: 20 attempts per address per hour, a 409 counts too', async (t) => {
  const ctx = await buildTestApp(t, DEFAULT_LIMITS)
  const taken = ctx.email()
  await signUp(ctx.app, taken)
  const statuses = []
  for (let i = 0; i < 19; i++) {
    const email = i % 2 ? taken : ctx.email()
    statuses.push((await ctx.app.inject({ method: 'POST', url: '/users', payload: { email, password: PASSWORD } })).statusCode)
  }
  t.same([...new Set(statuses)].sort(), [201, 409], 'the first 20 are served')
  const refused = await ctx.app.inject({ method: 'POST', url: '/users', payload: { email: ctx.email(), password: PASSWORD } })
  t.equal(refused.statusCode, 429, 'probing which emails exist is slow')
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(retryAfter > 3590 && retryAfter <= 3600, `Retry-After ${retryAfter}`)
  t.equal(refused.json().error, 'too_many_requests')
})

t.test('addressKey: what a client address counts as', async (t) => {
  const cases: Array<[string, string]> = [
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['not an address', 'not an address'],
  ]
  for (const [ip, key] of cases) t.equal(addressKey(ip), key, ip)
})

t.test('networkKey: the network an account\'s failures are counted by', async (t) => {
  const cases: Array<[string, string]> = [
    ['203.0.113.7', '203.0.113.0/24'],
    ['203.0.113.255', '203.0.113.0/24'],
    ['::ffff:203.0.113.7', '203.0.113.0/24'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['not an address', 'not an address'],
  ]
  for (const [ip, key] of cases) t.equal(networkKey(ip), key, ip)
})
