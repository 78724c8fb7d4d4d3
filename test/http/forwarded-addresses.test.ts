import t, { type Test } from 'tap'
import { buildTestApp, captureLogs, type TestContext } from '../helpers/app.js'
import { call, PASSWORD, signUp } from '../helpers/http.js'

// What a client's address is behind TRUST_PROXY: each X-Forwarded-For entry must be an address
// (a proxy's port forms stripped), anything else means the peer's own address; one address has one
// spelling in the session record, the throttle keys and the access log.

const PEER = '198.51.100.20'

interface From { forwardedFor?: string, remoteAddress?: string }

const loginFrom = (ctx: TestContext, email: string, password: string, from: From) =>
  ctx.app.inject({
    method: 'POST',
    url: '/sessions',
    payload: { email, password },
    remoteAddress: from.remoteAddress ?? PEER,
    headers: from.forwardedFor === undefined ? {} : { 'x-forwarded-for': from.forwardedFor },
  })

/** The `ip` GET /sessions shows for a session logged in from there. */
async function recordedIp (t: Test, ctx: TestContext, email: string, from: From): Promise<string> {
  const login = await loginFrom(ctx, email, PASSWORD, from)
  t.equal(login.statusCode, 201, `logged in from ${JSON.stringify(from)}`)
  const list = await call(ctx.app, 'GET', '/sessions', login.json().token)
  return list.json().sessions.find((s: { current: boolean }) => s.current).ip
}

t.test('TRUST_PROXY=true: an entry is an address with its port form stripped, or it is not believed', async (t) => {
  const ctx = await buildTestApp(t, { TRUST_PROXY: 'true' })
  const email = ctx.email()
  await signUp(ctx.app, email)
  const cases: Array<[string, string, string]> = [
    ['203.0.113.7', '203.0.113.7', 'an IPv4 address'],
    ['203.0.113.7:51234', '203.0.113.7', 'ip:port'],
    ['[2001:DB8:0::7]:443', '2001:db8::7', '[v6]:port, in its canonical form'],
    ['[2001:db8::7]', '2001:db8::7', '[v6]'],
    ['2001:0db8:0000:0000:0000:0000:0000:0007', '2001:db8::7', 'a long IPv6 spelling'],
    ['::FFFF:203.0.113.9', '203.0.113.9', 'IPv4-mapped IPv6 is the IPv4 address'],
    ['[::ffff:203.0.113.9]:8080', '203.0.113.9', 'bracketed and mapped'],
    ['fe80::1%eth0', 'fe80::1', 'a zone names the proxy\'s interface, not the client'],
    ['  203.0.113.7  ', '203.0.113.7', 'spaces around an entry'],
    ['client.example.com', PEER, 'a host name: the peer'],
    ['unknown', PEER, 'unknown: the peer'],
    ['', PEER, 'an empty header: the peer'],
    ['203.0.113.7:', PEER, 'a colon without a port'],
    ['203.0.113.7:65536', PEER, 'a port out of range'],
    ['[203.0.113.7]:80', PEER, 'bracketed IPv4'],
    ['2001:db8::7:443', '2001:db8::7:443', 'unbracketed IPv6 with a "port" is an IPv6 address'],
    ['0x7f.0.0.1', PEER, 'IPv4 in hex'],
    ['010.0.0.1', PEER, 'IPv4 with a leading zero (octal to some parsers)'],
    ['2130706433', PEER, 'IPv4 as one number'],
    ['203.0.113.7 203.0.113.8', PEER, 'two addresses without a comma'],
    ['203.0.113.7, garbage', PEER, 'the nearest entry is garbage'],
    ['garbage, 203.0.113.7', PEER, 'a farther entry on the walk is garbage (all are trusted)'],
    ['203.0.113.7, , 203.0.113.8', PEER, 'an empty entry on the walk'],
    ['192.0.2.1, 203.0.113.7:999', '192.0.2.1', 'the farthest entry is the client'],
  ]
  for (const [header, ip, what] of cases) t.equal(await recordedIp(t, ctx, email, { forwardedFor: header }), ip, what)
})

t.test('the peer address itself is in its one spelling, with or without a proxy', async (t) => {
  for (const env of [{}, { TRUST_PROXY: 'true' }]) {
    const ctx = await buildTestApp(t, env)
    const email = ctx.email()
    await signUp(ctx.app, email)
    t.equal(await recordedIp(t, ctx, email, { remoteAddress: '::ffff:198.51.100.21' }), '198.51.100.21', 'a dual-stack socket\'s IPv4 peer')
    t.equal(await recordedIp(t, ctx, email, { remoteAddress: '2001:DB8:0:0::21' }), '2001:db8::21', 'an IPv6 peer')
  }
})

t.test('without TRUST_PROXY the header is never read, however it is spelled', async (t) => {
  const ctx = await buildTestApp(t, {})
  const email = ctx.email()
  await signUp(ctx.app, email)
  for (const header of ['203.0.113.7', '203.0.113.7:1', '[2001:db8::7]']) {
    t.equal(await recordedIp(t, ctx, email, { forwardedFor: header }), PEER, header)
  }
})

t.test('a list of proxies: only their entries are believed, a mapped peer is matched as IPv4', async (t) => {
  const ctx = await buildTestApp(t, { TRUST_PROXY: '10.0.0.0/8, 2001:db8:ffff::/48' })
  const email = ctx.email()
  await signUp(ctx.app, email)
  const via = (remoteAddress: string, forwardedFor: string) => recordedIp(t, ctx, email, { remoteAddress, forwardedFor })
  t.equal(await via('10.1.2.3', '203.0.113.7:4000'), '203.0.113.7', 'from a listed proxy')
  t.equal(await via('::ffff:10.1.2.3', '203.0.113.7:4000'), '203.0.113.7', 'from a listed proxy on a dual-stack socket')
  t.equal(await via('2001:db8:ffff:1::5', '[2001:db8:1::9]:4000'), '2001:db8:1::9', 'from a listed IPv6 proxy')
  t.equal(await via('11.0.0.1', '203.0.113.7'), '11.0.0.1', 'not from another peer')
  t.equal(await via('10.1.2.3', '203.0.113.7, 10.9.9.9:80'), '203.0.113.7', 'through two listed proxies')
  t.equal(await via('10.1.2.3', 'spoofed.example, 203.0.113.7'), '203.0.113.7', 'the walk stops at the first address not listed: what the client wrote is never read')
  t.equal(await via('10.1.2.3', '203.0.113.7, proxy.internal'), '10.1.2.3', 'a listed proxy\'s entry that is not an address: the peer')
})

t.test('a hop count: the entry that many proxies away, whatever the client put before it', async (t) => {
  const ctx = await buildTestApp(t, { TRUST_PROXY: '1' })
  const email = ctx.email()
  await signUp(ctx.app, email)
  t.equal(await recordedIp(t, ctx, email, { forwardedFor: 'anything, 203.0.113.7:1234' }), '203.0.113.7')
  t.equal(await recordedIp(t, ctx, email, { forwardedFor: '203.0.113.7, not-an-address' }), PEER)
})

// LOGIN_MAX_FAILURES_PER_IP=5 as in throttling.test.ts; the other limits out of the way.
const LIMITS = { LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: '', LOGIN_MAX_FAILURES_PER_ACCOUNT: '', LOGIN_MAX_FAILURES_PER_IP: '5', SIGNUP_MAX_PER_IP: '', TRUST_PROXY: 'true' }

t.test('the per-address login limit holds across ports and spellings of one address', async (t) => {
  const ctx = await buildTestApp(t, LIMITS)
  const statuses = []
  for (let port = 40001; port <= 40005; port++) statuses.push((await loginFrom(ctx, ctx.email(), 'wrong', { forwardedFor: `203.0.113.7:${port}` })).statusCode)
  t.same(statuses, [401, 401, 401, 401, 401], 'five failures, each from a new port')
  for (const spelling of ['203.0.113.7:40006', '203.0.113.7', '::ffff:203.0.113.7', '[::ffff:203.0.113.7]:1']) {
    const refused = await loginFrom(ctx, ctx.email(), 'wrong', { forwardedFor: spelling })
    t.equal(refused.statusCode, 429, `${spelling} is the same client`)
    t.equal(refused.json().error, 'too_many_requests')
  }
  t.equal((await loginFrom(ctx, ctx.email(), 'wrong', { forwardedFor: '203.0.113.8:40001' })).statusCode, 401, 'another address is not affected')

  for (let port = 1; port <= 5; port++) await loginFrom(ctx, ctx.email(), 'wrong', { forwardedFor: `[2001:DB8:1:2::${port}]:${port}` })
  t.equal((await loginFrom(ctx, ctx.email(), 'wrong', { forwardedFor: '[2001:db8:1:2:0:0:0:99]' })).statusCode, 429, 'IPv6 with ports: still one /64')
})

t.test('garbage in X-Forwarded-For cannot step around the limit: it counts as the peer', async (t) => {
  const ctx = await buildTestApp(t, LIMITS)
  const garbage = ['a.example', 'unknown', 'x', '1.2.3', '::gg', 'bad:1']
  for (const header of garbage.slice(0, 5)) t.equal((await loginFrom(ctx, ctx.email(), 'wrong', { forwardedFor: header })).statusCode, 401, header)
  t.equal((await loginFrom(ctx, ctx.email(), 'wrong', { forwardedFor: garbage[5] })).statusCode, 429, 'six entries that are no address are one client, the peer')
  t.equal((await loginFrom(ctx, ctx.email(), 'wrong', { forwardedFor: `${PEER}:5` })).statusCode, 429, 'which is the peer itself')
})

t.test('the per-account-and-network limit holds across ports', async (t) => {
  const ctx = await buildTestApp(t, { ...LIMITS, LOGIN_MAX_FAILURES_PER_IP: '' })
  const email = ctx.email()
  await signUp(ctx.app, email)
  for (let i = 1; i <= 10; i++) t.equal((await loginFrom(ctx, email, 'a guess', { forwardedFor: `203.0.113.${i}:${50000 + i}` })).statusCode, 401)
  t.equal((await loginFrom(ctx, email, PASSWORD, { forwardedFor: '203.0.113.77:1' })).statusCode, 429, 'the network 203.0.113.0/24 is used up')
  t.equal((await loginFrom(ctx, email, PASSWORD, { forwardedFor: '198.51.100.4:1' })).statusCode, 201, 'another network is not')
})

t.test('the access log records the same address', async (t) => {
  const logs = captureLogs('info')
  const ctx = await buildTestApp(t, { TRUST_PROXY: 'true' }, { logger: logs.logger })
  await ctx.app.inject({ method: 'GET', url: '/health', remoteAddress: PEER, headers: { 'x-forwarded-for': '[2001:DB8::7]:443', 'x-request-id': 'fwd-1' } })
  await ctx.app.inject({ method: 'GET', url: '/health', remoteAddress: PEER, headers: { 'x-forwarded-for': 'evil.example', 'x-request-id': 'fwd-2' } })
  await ctx.app.inject({ method: 'GET', url: '/no/such/route', remoteAddress: '::ffff:198.51.100.30', headers: { 'x-request-id': 'fwd-3' } })
  const addressOf = (id: string) => logs.lines.map((line) => JSON.parse(line)).filter((l) => l.reqId === id).map((l) => l.req.remoteAddress)
  t.same(addressOf('fwd-1'), ['2001:db8::7'])
  t.same(addressOf('fwd-2'), [PEER])
  t.same(addressOf('fwd-3'), ['198.51.100.30'], 'a 404 too')
})
