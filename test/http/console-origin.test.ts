import t from 'tap'
import { csrfTokenFor } from '../../src/http/session-cookie.js'
import { buildTestApp } from '../helpers/app.js'
import { PASSWORD, signUp } from '../helpers/http.js'

// The ops console is served by Gatehouse itself: with CONSOLE_ENABLED, the request's own origin may
// use the session cookie without being listed in CORS_ORIGINS. Nothing else may.

t.test('the console\'s own origin may use the session cookie; other origins may not', async (t) => {
  const ctx = await buildTestApp(t)
  const email = ctx.email()
  await signUp(ctx.app, email)
  const cookieLogin = (headers: Record<string, string>) =>
    ctx.app.inject({ method: 'POST', url: '/sessions', headers, payload: { email, password: PASSWORD, transport: 'cookie' } })

  t.equal((await cookieLogin({ origin: 'https://evil.example' })).statusCode, 403, 'a page of another site')
  t.equal((await cookieLogin({ origin: 'http://localhost:8080' })).statusCode, 403, 'another port is another origin')
  t.equal((await cookieLogin({ origin: 'https://localhost' })).statusCode, 403, 'another scheme is another origin')
  t.equal((await cookieLogin({ origin: 'http://localhost:80' })).statusCode, 403, 'not as a browser writes it (no default port)')
  t.equal((await cookieLogin({ origin: 'http://localhost', 'sec-fetch-site': 'cross-site' })).statusCode, 403, 'the browser says cross-site')
  const res = await cookieLogin({ origin: 'http://localhost' })
  t.equal(res.statusCode, 201, 'the page Gatehouse itself served (inject\'s Host is localhost:80)')
  const token = res.cookies.find((c) => c.name.endsWith('gatehouse_session'))!.value
  const cookie = `__Host-gatehouse_session=${token}`
  const change = (headers: Record<string, string>) => ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { cookie, ...headers } })
  t.equal((await change({ origin: 'http://localhost' })).statusCode, 403, 'no CSRF token: refused')
  t.equal((await change({ origin: 'https://evil.example', 'x-csrf-token': csrfTokenFor(token) })).statusCode, 403, 'the CSRF token from another origin: refused')
  t.equal((await change({ origin: 'http://localhost', 'x-csrf-token': csrfTokenFor(token) })).statusCode, 204)

  const off = await buildTestApp(t, { CONSOLE_ENABLED: 'false' })
  await signUp(off.app, email.replace('@', '+off@'))
  t.equal((await off.app.inject({ method: 'POST', url: '/sessions', headers: { origin: 'http://localhost' }, payload: { email: email.replace('@', '+off@'), password: PASSWORD, transport: 'cookie' } })).statusCode, 403,
    'without the console, its own origin is no exception')

  // Behind a proxy, the origin the browser used is the one the proxy forwards (TRUST_PROXY).
  const proxied = await buildTestApp(t, { TRUST_PROXY: '1' })
  const proxiedEmail = proxied.email()
  await signUp(proxied.app, proxiedEmail)
  const through = (origin: string) => proxied.app.inject({
    method: 'POST',
    url: '/sessions',
    headers: { origin, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'auth.example.com' },
    payload: { email: proxiedEmail, password: PASSWORD, transport: 'cookie' },
  })
  t.equal((await through('https://auth.example.com')).statusCode, 201)
  t.equal((await through('http://localhost')).statusCode, 403, 'the address the proxy called is not the page\'s origin')

  // Without TRUST_PROXY, X-Forwarded-* is anybody's say-so and changes nothing.
  t.equal((await ctx.app.inject({
    method: 'POST',
    url: '/sessions',
    headers: { origin: 'https://auth.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'auth.example.com' },
    payload: { email, password: PASSWORD, transport: 'cookie' },
  })).statusCode, 403)
  // Spellings of the same origin a Host header allows: case and the default port.
  const spelled = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { host: 'LocalHost:80', origin: 'http://localhost' }, payload: { email, password: PASSWORD, transport: 'cookie' } })
  t.equal(spelled.statusCode, 201, 'Host LocalHost:80 is the origin http://localhost')
})
