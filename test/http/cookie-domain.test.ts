import { csrfTokenFor } from '@gatehouse/session-reader/credentials'
import t, { type Test } from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { PASSWORD, signUp } from '../helpers/http.js'

// COOKIE_DOMAIN: the web app's cookies shared with sibling subdomains (docs/security.md, "Cookies
// shared across subdomains").

const APP = 'https://app.example.com'
const CHAT = 'https://chat.example.com'
const SHARED = { CORS_ORIGINS: `${APP},${CHAT}`, COOKIE_DOMAIN: 'example.com' }

async function cookieLogin (t: Test, ctx: TestContext, cookie?: string) {
  const email = ctx.email()
  await signUp(ctx.app, email)
  const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { origin: APP, ...(cookie && { cookie }) }, payload: { email, password: PASSWORD, transport: 'cookie' } })
  t.equal(res.statusCode, 201, res.body)
  return res
}

t.test('with COOKIE_DOMAIN the cookies are __Secure-, scoped to the domain; the CSRF cookie is readable there', async (t) => {
  const ctx = await buildTestApp(t, SHARED)
  const res = await cookieLogin(t, ctx)
  const session = res.cookies.find((c) => c.name === '__Secure-gatehouse_session')
  const csrf = res.cookies.find((c) => c.name === '__Secure-gatehouse_csrf')
  t.match(session, { domain: 'example.com', path: '/', secure: true, httpOnly: true, sameSite: 'Lax' })
  t.match(csrf, { domain: 'example.com', path: '/', secure: true, sameSite: 'Lax' })
  t.notOk(csrf!.httpOnly, 'pages on every subdomain read it to send X-CSRF-Token')
  t.equal(csrf!.value, csrfTokenFor(session!.value))
  t.notOk(res.cookies.some((c) => c.name.startsWith('__Host-') && c.value !== ''), 'no __Host- cookie is set')
})

t.test('the CSRF check works across the subdomains, and still refuses everything else', async (t) => {
  const ctx = await buildTestApp(t, SHARED)
  const res = await cookieLogin(t, ctx)
  const token = res.cookies.find((c) => c.name === '__Secure-gatehouse_session')!.value
  const cookie = `__Secure-gatehouse_session=${token}`
  const revokeOthers = (headers: Record<string, string>) => ctx.app.inject({ method: 'DELETE', url: '/sessions', headers: { cookie, ...headers } })
  t.equal((await ctx.app.inject({ method: 'GET', url: '/me', headers: { cookie } })).statusCode, 200)
  t.equal((await revokeOthers({ origin: CHAT, 'sec-fetch-site': 'same-site', 'x-csrf-token': csrfTokenFor(token) })).statusCode, 200, 'from a page on chat.example.com')
  t.equal((await revokeOthers({ origin: CHAT, 'sec-fetch-site': 'same-site' })).statusCode, 403, 'without the CSRF token')
  t.equal((await revokeOthers({ origin: 'https://evil.example.com', 'x-csrf-token': csrfTokenFor(token) })).statusCode, 403, 'a subdomain not in CORS_ORIGINS')
  t.equal((await revokeOthers({ origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'x-csrf-token': csrfTokenFor(token) })).statusCode, 403, 'another site')
})

t.test('switching COOKIE_DOMAIN on logs no one out: the __Host- cookie is still read, then replaced', async (t) => {
  const hostOnly = await buildTestApp(t, { CORS_ORIGINS: APP })
  const before = await cookieLogin(t, hostOnly)
  const token = before.cookies.find((c) => c.name === '__Host-gatehouse_session')!.value
  const shared = await buildTestApp(t, { ...SHARED, REDIS_KEY_PREFIX: hostOnly.config.redisKeyPrefix })
  const cookie = `__Host-gatehouse_session=${token}`
  t.equal((await shared.app.inject({ method: 'GET', url: '/me', headers: { cookie } })).statusCode, 200)

  const again = await cookieLogin(t, shared, cookie)
  for (const name of ['__Host-gatehouse_session', '__Host-gatehouse_csrf']) {
    const cleared = again.cookies.find((c) => c.name === name)
    t.match(cleared, { value: '', path: '/' }, `a new login clears the host-only leftover ${name}`)
    t.notOk(cleared!.domain, 'without a Domain, as it was set')
  }

  const logout = await shared.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { cookie, origin: APP, 'x-csrf-token': csrfTokenFor(token) } })
  t.equal(logout.statusCode, 204)
  const names = logout.cookies.filter((c) => c.value === '').map((c) => `${c.name}${c.domain ? `@${c.domain}` : ''}`).sort()
  t.same(names, ['__Host-gatehouse_csrf', '__Host-gatehouse_session', '__Secure-gatehouse_csrf@example.com', '__Secure-gatehouse_session@example.com'], 'logout clears every cookie either setting set')
})

t.test('without COOKIE_DOMAIN a __Secure- cookie (planted by a sibling subdomain) is not read', async (t) => {
  const shared = await buildTestApp(t, SHARED)
  const res = await cookieLogin(t, shared)
  const token = res.cookies.find((c) => c.name === '__Secure-gatehouse_session')!.value
  const hostOnly = await buildTestApp(t, { CORS_ORIGINS: APP, REDIS_KEY_PREFIX: shared.config.redisKeyPrefix })
  t.equal((await hostOnly.app.inject({ method: 'GET', url: '/me', headers: { cookie: `__Secure-gatehouse_session=${token}` } })).json().error, 'missing_token')
})
