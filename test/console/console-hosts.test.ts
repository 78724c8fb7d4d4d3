import { readdirSync } from 'node:fs'
import t from 'tap'
import { csrfTokenFor } from '../../src/http/session-cookie.js'
import { CONSOLE_DIST } from '../../src/routes/console.js'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { PASSWORD, signUp } from '../helpers/http.js'

// CONSOLE_HOSTS: the console, and its exception to the cookie's allowed origins, only at the hosts
// it names. Any name resolving to Gatehouse is "the request's own origin", a DNS-rebinding page's
// (evil.example, pointed at Gatehouse's address) included; with the list, that page gets no console
// and its cookie sign-in is refused as from any other site.

const asset = readdirSync(`${CONSOLE_DIST}/assets`)[0]!

/** The console's page, a file of it and /console/ for one Host (and other headers). */
async function consoleAt (ctx: TestContext, headers: Record<string, string>) {
  const answers = await Promise.all(['/console', `/console/assets/${asset}`, '/console/'].map((url) => ctx.app.inject({ url, headers })))
  return answers.map((res) => res.statusCode)
}

async function cookieLogin (ctx: TestContext, email: string, headers: Record<string, string>) {
  return ctx.app.inject({ method: 'POST', url: '/sessions', headers, payload: { email, password: PASSWORD, transport: 'cookie' } })
}

t.test('the listed hosts get the console and may sign in with the cookie; any other host gets neither', async (t) => {
  const ctx = await buildTestApp(t, { CONSOLE_HOSTS: 'gatehouse-ops.example.com,localhost:3000' })
  const email = ctx.email()
  await signUp(ctx.app, email)

  t.same(await consoleAt(ctx, { host: 'gatehouse-ops.example.com' }), [200, 200, 308], 'a listed host: the page, its file, the redirect')
  const evil = await ctx.app.inject({ url: '/console', headers: { host: 'evil.example' } })
  t.equal(evil.statusCode, 404, 'a rebinding page\'s host: no console')
  t.same(evil.json(), { error: 'not_found', message: 'No route for GET at this path' }, 'the app\'s own 404, as for a path with no route')
  t.notMatch(evil.body, /<html|console\/assets/i)
  t.same(await consoleAt(ctx, { host: 'evil.example' }), [404, 404, 404], 'nor its files or the redirect')
  t.equal((await ctx.app.inject({ url: '/health', headers: { host: 'evil.example' } })).statusCode, 200, 'the rest of the API answers any host, as before')

  const signedIn = await cookieLogin(ctx, email, { host: 'gatehouse-ops.example.com', origin: 'http://gatehouse-ops.example.com' })
  t.equal(signedIn.statusCode, 201, 'a sign-in from the console\'s own origin passes the CSRF check')
  const rebound = await cookieLogin(ctx, email, { host: 'evil.example', origin: 'http://evil.example' })
  t.equal(rebound.statusCode, 403, 'the same from a rebinding page (its Host is its Origin) is refused')
  t.match(rebound.json(), { error: 'csrf_rejected', message: /origin http:\/\/evil\.example is not in CORS_ORIGINS/ })
  t.notOk(rebound.headers['set-cookie'], 'and sets no cookie')

  const token = signedIn.cookies.find((c) => c.name === '__Host-gatehouse_session')!.value
  const change = (headers: Record<string, string>) => ctx.app.inject({
    method: 'DELETE',
    url: '/sessions/current',
    headers: { cookie: `__Host-gatehouse_session=${token}`, 'x-csrf-token': csrfTokenFor(token), ...headers },
  })
  t.equal((await change({ host: 'evil.example', origin: 'http://evil.example' })).json().error, 'csrf_rejected', 'a change with the cookie from another host: refused')
  t.equal((await change({ host: 'gatehouse-ops.example.com', origin: 'http://gatehouse-ops.example.com' })).statusCode, 204, 'from the console\'s host: done')
})

t.test('a host is listed with its port, or without it for the scheme\'s own port, in any case', async (t) => {
  const ctx = await buildTestApp(t, { CONSOLE_HOSTS: 'gatehouse-ops.example.com,localhost:3000,[::1]:3000' })
  const email = ctx.email()
  await signUp(ctx.app, email)
  const cases: Array<[string, number, string]> = [
    ['localhost:3000', 200, 'the listed port'],
    ['localhost:3001', 404, 'another port'],
    ['localhost', 404, 'no port is port 80, not the listed 3000'],
    ['LocalHost:3000', 200, 'case does not matter in a host name'],
    ['GATEHOUSE-OPS.EXAMPLE.COM', 200, 'upper case'],
    ['gatehouse-ops.example.com:80', 200, 'the scheme\'s own port, written out'],
    ['gatehouse-ops.example.com:8080', 404, 'listed without a port: only at the scheme\'s own'],
    ['gatehouse-ops.example.com.', 404, 'a trailing dot: another host to a browser'],
    ['ops.example.com', 404, 'a sibling'],
    ['x.gatehouse-ops.example.com', 404, 'a subdomain'],
    ['[0:0::1]:3000', 200, 'an IPv6 address, however written'],
    ['gatehouse-ops.example.com@evil.example', 404, 'not a host a browser sends'],
  ]
  for (const [host, status, why] of cases) {
    t.equal((await ctx.app.inject({ url: '/console', headers: { host } })).statusCode, status, `Host ${host}: ${why}`)
  }
  for (const [host, origin, status] of [
    ['localhost:3000', 'http://localhost:3000', 201],
    ['LOCALHOST:3000', 'http://localhost:3000', 201],
    ['gatehouse-ops.example.com:80', 'http://gatehouse-ops.example.com', 201],
    ['localhost:3001', 'http://localhost:3001', 403],
    ['gatehouse-ops.example.com:8080', 'http://gatehouse-ops.example.com:8080', 403],
  ] as Array<[string, string, number]>) {
    t.equal((await cookieLogin(ctx, email, { host, origin })).statusCode, status, `a cookie sign-in with Host ${host} and Origin ${origin}`)
  }
})

t.test('behind a trusted proxy the forwarded host is the one checked; without TRUST_PROXY it is ignored', async (t) => {
  const proxied = await buildTestApp(t, { CONSOLE_HOSTS: 'gatehouse-ops.example.com', TRUST_PROXY: '1' })
  const email = proxied.email()
  await signUp(proxied.app, email)
  const via = (host: string) => ({ host: '10.0.0.5:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': host })

  t.same(await consoleAt(proxied, via('gatehouse-ops.example.com')), [200, 200, 308], 'the host the browser used, as the proxy forwards it')
  t.same(await consoleAt(proxied, via('evil.example')), [404, 404, 404], 'a rebinding page through the proxy')
  t.same(await consoleAt(proxied, { host: 'gatehouse-ops.example.com', 'x-forwarded-host': 'evil.example' }), [404, 404, 404], 'the forwarded host wins over Host')
  t.equal((await cookieLogin(proxied, email, { ...via('gatehouse-ops.example.com'), origin: 'https://gatehouse-ops.example.com' })).statusCode, 201)
  t.equal((await cookieLogin(proxied, email, { ...via('evil.example'), origin: 'https://evil.example' })).json().error, 'csrf_rejected')

  const direct = await buildTestApp(t, { CONSOLE_HOSTS: 'gatehouse-ops.example.com' })
  t.same(await consoleAt(direct, { host: 'evil.example', 'x-forwarded-host': 'gatehouse-ops.example.com' }), [404, 404, 404], 'X-Forwarded-Host is anybody\'s say-so without TRUST_PROXY')
})

t.test('empty (the default): any host, as before; CONSOLE_ENABLED=false: no host', async (t) => {
  const any = await buildTestApp(t)
  t.same(await consoleAt(any, { host: 'whatever.example:8443' }), [200, 200, 308])
  const off = await buildTestApp(t, { CONSOLE_ENABLED: 'false', CONSOLE_HOSTS: 'gatehouse-ops.example.com' })
  const email = off.email()
  await signUp(off.app, email)
  t.same(await consoleAt(off, { host: 'gatehouse-ops.example.com' }), [404, 404, 404])
  t.equal((await cookieLogin(off, email, { host: 'gatehouse-ops.example.com', origin: 'http://gatehouse-ops.example.com' })).statusCode, 403, 'no console, no exception')
})
