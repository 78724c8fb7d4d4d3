import t from 'tap'
import { csrfTokenFor } from '../../src/http/session-cookie.js'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { claimsOf, PASSWORD, signUp } from '../helpers/http.js'
import { scanKeys, sessionExists, sessionKeyOf } from '../helpers/redis.js'

// The optional cookie transport for a web app on the same site, and its CSRF defence.

const ORIGIN = 'https://app.example.com'
const COOKIE_APP = { CORS_ORIGINS: ORIGIN }

interface CookieSession {
  token: string
  csrf: string
  setCookie: string[]
  cookie: string
}

async function cookieLogin (ctx: TestContext, headers: Record<string, string> = { origin: ORIGIN }, body: object = { transport: 'cookie' }): Promise<CookieSession> {
  const email = ctx.email()
  await signUp(ctx.app, email)
  const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers, payload: { email, password: PASSWORD, ...body } })
  if (res.statusCode !== 201) throw new Error(`cookie login failed: ${res.statusCode} ${res.body}`)
  const setCookie = [res.headers['set-cookie'] ?? []].flat()
  const token = res.cookies.find((c) => c.name.endsWith('gatehouse_session'))!.value
  return { token, csrf: res.json().csrf_token, setCookie, cookie: setCookie.map((c) => c.split(';')[0]).join('; ') }
}

t.test('a cookie login sets an HttpOnly __Host- cookie and answers the CSRF token, not the token', async (t) => {
  const ctx = await buildTestApp(t, COOKIE_APP)
  const email = ctx.email()
  await signUp(ctx.app, email)
  const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { origin: ORIGIN }, payload: { email, password: PASSWORD, transport: 'cookie' } })
  t.equal(res.statusCode, 201)
  t.same(Object.keys(res.json()).sort(), ['csrf_token', 'expires_at', 'idle_timeout_seconds', 'max_expires_at', 'user'], 'no token in the body: page scripts never see it')
  t.equal(res.headers['cache-control'], 'no-store')
  const [session, csrf] = [res.cookies.find((c) => c.name === '__Host-gatehouse_session'), res.cookies.find((c) => c.name === '__Host-gatehouse_csrf')]
  t.ok(session && csrf, 'both cookies, with the __Host- prefix')
  t.match(session, { path: '/', httpOnly: true, secure: true, sameSite: 'Lax' })
  t.notOk(session!.domain, 'no Domain (required by __Host-)')
  t.match(csrf, { path: '/', secure: true, sameSite: 'Lax' })
  t.notOk(csrf!.httpOnly, 'the CSRF cookie is readable by our pages')
  t.ok(session!.maxAge! > ctx.config.sessionMaxAgeSeconds - 2 && session!.maxAge! <= ctx.config.sessionMaxAgeSeconds, 'lives as long as the token')
  t.equal(csrf!.value, res.json().csrf_token)
  t.equal(csrf!.value, csrfTokenFor(session!.value), 'derived from the session token')
  t.ok(await sessionExists(ctx, session!.value), 'a real session behind it')
})

t.test('reads authenticate with the cookie alone; changes need Origin and X-CSRF-Token', async (t) => {
  const ctx = await buildTestApp(t, COOKIE_APP)
  const s = await cookieLogin(ctx)
  const me = await ctx.app.inject({ method: 'GET', url: '/me', headers: { cookie: s.cookie } })
  t.equal(me.statusCode, 200, 'GET /me with only the cookie')

  const logout = (headers: Record<string, string>) => ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { cookie: s.cookie, ...headers } })
  const refusals: Array<[string, Record<string, string>, RegExp]> = [
    ['no CSRF header', { origin: ORIGIN }, /no x-csrf-token header/],
    ['a wrong CSRF token', { origin: ORIGIN, 'x-csrf-token': csrfTokenFor('another session') }, /does not match/],
    ['a CSRF token cut short', { origin: ORIGIN, 'x-csrf-token': s.csrf.slice(0, 10) }, /does not match/],
    ['no Origin or Referer', { 'x-csrf-token': s.csrf }, /no Origin or Referer/],
    ['another origin', { origin: 'https://evil.example', 'x-csrf-token': s.csrf }, /https:\/\/evil.example is not in CORS_ORIGINS/],
    ['Origin null (sandboxed page)', { origin: 'null', 'x-csrf-token': s.csrf }, /origin null/],
    ['a Referer from another origin', { referer: 'https://evil.example/page', 'x-csrf-token': s.csrf }, /not in CORS_ORIGINS/],
    ['a malformed Referer', { referer: '::not a url', 'x-csrf-token': s.csrf }, /no Origin or Referer/],
    ['Sec-Fetch-Site: cross-site', { origin: ORIGIN, 'sec-fetch-site': 'cross-site', 'x-csrf-token': s.csrf }, /Sec-Fetch-Site is cross-site/],
  ]
  for (const [name, headers, message] of refusals) {
    const res = await logout(headers)
    t.equal(res.statusCode, 403, name)
    t.equal(res.json().error, 'csrf_rejected', name)
    t.match(res.json().message, message, name)
  }
  t.ok(await sessionExists(ctx, s.token), 'none of them ended the session')
  const put = await ctx.app.inject({ method: 'PUT', url: '/me/password', headers: { cookie: s.cookie, origin: ORIGIN }, payload: { current_password: PASSWORD, new_password: 'another passphrase' } })
  t.equal(put.statusCode, 403, 'a password change without the CSRF token is refused too')

  const ok = await logout({ referer: `${ORIGIN}/settings`, 'sec-fetch-site': 'same-site', 'x-csrf-token': s.csrf })
  t.equal(ok.statusCode, 204, 'a same-site page with the token logs out (Referer in place of Origin)')
  t.notOk(await sessionExists(ctx, s.token), 'the session is gone')
  const cleared = ok.cookies.filter((c) => c.value === '')
  t.same(cleared.map((c) => c.name).sort(), ['__Host-gatehouse_csrf', '__Host-gatehouse_session'], 'both cookies are cleared')
  t.ok(cleared.every((c) => c.expires && c.expires.getTime() <= Date.now()), 'expired')
})

t.test('a dead cookie gets 401 and is cleared; a header token needs no CSRF proof', async (t) => {
  const ctx = await buildTestApp(t, COOKIE_APP)
  const s = await cookieLogin(ctx)
  await ctx.redis.del(sessionKeyOf(ctx, s.token))
  const gone = await ctx.app.inject({ method: 'GET', url: '/me', headers: { cookie: s.cookie } })
  t.equal(gone.statusCode, 401)
  t.equal(gone.json().error, 'session_expired')
  t.ok(gone.cookies.some((c) => c.name === '__Host-gatehouse_session' && c.value === ''), 'cleared')
  const forged = await ctx.app.inject({ method: 'GET', url: '/me', headers: { cookie: '__Host-gatehouse_session=forged.token.here' } })
  t.equal(forged.statusCode, 401)
  t.equal(forged.json().error, 'invalid_token')

  const live = await cookieLogin(ctx)
  // The mobile app's way (or a service's): no Origin, no CSRF token, and the header wins over a cookie.
  const res = await ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { authorization: `Token token=${live.token}`, cookie: 'gatehouse_x=1' } })
  t.equal(res.statusCode, 204)
  t.notOk(res.headers['set-cookie'], 'a header logout sets no cookies')
})

t.test('a cookie login from a page we do not know is refused (login CSRF), and leaves no session', async (t) => {
  const ctx = await buildTestApp(t, COOKIE_APP)
  const email = ctx.email()
  await signUp(ctx.app, email)
  for (const [name, headers] of [
    ['another origin', { origin: 'https://evil.example' }],
    ['no Origin', {}],
    ['cross-site', { origin: ORIGIN, 'sec-fetch-site': 'cross-site' }],
  ] as const) {
    const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers, payload: { email, password: PASSWORD, transport: 'cookie' } })
    t.equal(res.statusCode, 403, name)
    t.equal(res.json().error, 'csrf_rejected')
    t.notOk(res.headers['set-cookie'], `${name}: no cookie`)
  }
  t.equal((await scanKeys(ctx.redis, `${ctx.config.redisKeyPrefix}sess:`)).length, 0, 'no session was created')
  const bad = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD, transport: 'carrier-pigeon' } })
  t.equal(bad.statusCode, 400)
})

t.test('cookie endings: DELETE /sessions/:id of the current one, and ?all=true, clear the cookies', async (t) => {
  const ctx = await buildTestApp(t, COOKIE_APP)
  const change = { origin: ORIGIN }
  const a = await cookieLogin(ctx)
  const byId = await ctx.app.inject({ method: 'DELETE', url: `/sessions/${claimsOf(a.token).jti}`, headers: { cookie: a.cookie, ...change, 'x-csrf-token': a.csrf } })
  t.equal(byId.statusCode, 204)
  t.ok(byId.cookies.some((c) => c.name === '__Host-gatehouse_session' && c.value === ''))
  const b = await cookieLogin(ctx)
  const all = await ctx.app.inject({ method: 'DELETE', url: '/sessions?all=true', headers: { cookie: b.cookie, ...change, 'x-csrf-token': b.csrf } })
  t.same(all.json(), { revoked: 1 })
  t.ok(all.cookies.some((c) => c.name === '__Host-gatehouse_session' && c.value === ''))
  const c = await cookieLogin(ctx)
  const others = await ctx.app.inject({ method: 'DELETE', url: '/sessions', headers: { cookie: c.cookie, ...change, 'x-csrf-token': c.csrf } })
  t.equal(others.statusCode, 200)
  t.notOk(others.headers['set-cookie'], 'ending only the others keeps this cookie')
})

t.test('SESSION_TRANSPORT=cookie makes it the default; COOKIE_SECURE=false drops __Host- for local http', async (t) => {
  const ctx = await buildTestApp(t, { ...COOKIE_APP, SESSION_TRANSPORT: 'cookie', COOKIE_SECURE: 'false' })
  const s = await cookieLogin(ctx, { origin: ORIGIN }, {})
  t.ok(s.setCookie.some((c) => c.startsWith('gatehouse_session=') && c.includes('HttpOnly') && !c.includes('Secure')), s.setCookie.join(' | '))
  t.equal((await ctx.app.inject({ method: 'GET', url: '/me', headers: { cookie: s.cookie } })).statusCode, 200)
  const email = ctx.email()
  await signUp(ctx.app, email)
  const header = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD, transport: 'header' } })
  t.equal(header.statusCode, 201)
  t.type(header.json().token, 'string', 'an app can still ask for the token')
  t.notOk(header.headers['set-cookie'])
})

t.test('CORS allows credentials for the listed origins, and the CSRF header', async (t) => {
  const ctx = await buildTestApp(t, COOKIE_APP)
  const res = await ctx.app.inject({ method: 'OPTIONS', url: '/sessions/current', headers: { origin: ORIGIN, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'x-csrf-token' } })
  t.equal(res.headers['access-control-allow-origin'], ORIGIN)
  t.equal(res.headers['access-control-allow-credentials'], 'true')
  t.match(String(res.headers['access-control-allow-headers']).toLowerCase(), /x-csrf-token/)
  const other = await ctx.app.inject({ method: 'OPTIONS', url: '/sessions/current', headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' } })
  t.notOk(other.headers['access-control-allow-origin'])
})

t.test('security headers on every answer (helmet)', async (t) => {
  const ctx = await buildTestApp(t)
  // 200, 401, 404, and a 400 from the body parser: every answer, errors included.
  const answers = [
    ...['/health', '/me', '/nowhere'].map((url) => ({ method: 'GET' as const, url })),
    { method: 'POST' as const, url: '/sessions', headers: { 'content-type': 'application/json' }, payload: '{"email":' },
  ]
  for (const request of answers) {
    const res = await ctx.app.inject(request)
    const url = `${request.method} ${request.url} ${res.statusCode}`
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
    t.equal(res.headers['x-frame-options'], 'DENY', url)
    t.match(res.headers['strict-transport-security'], /max-age=\d+/, url)
    t.equal(res.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'", `${url}: JSON loads and frames nothing`)
    t.equal(res.headers['referrer-policy'], 'no-referrer', url)
    t.equal(res.headers['cross-origin-resource-policy'], 'same-origin', url)
    t.notOk(res.headers['x-powered-by'], url)
    t.notOk(res.headers['x-dns-prefetch-control'], `${url}: none of the headers that only matter to HTML pages`)
  }
  const docs = await ctx.app.inject({ method: 'GET', url: '/docs' })
  t.equal(docs.statusCode, 200, 'the API docs page loads under the page policy:')
  t.match(docs.headers['content-security-policy'], /default-src 'self'/)
  t.equal(docs.headers['x-frame-options'], 'SAMEORIGIN')
  const script = await ctx.app.inject({ method: 'GET', url: '/docs/static/index.html' })
  t.match(script.headers['content-security-policy'], /script-src 'self'/, 'so do its files')
  t.notMatch(docs.body, /<script>|<script [^>]*>[^<\s]/, 'its scripts are files of its own, none inline')
  t.notMatch(docs.headers['content-security-policy'], /upgrade-insecure-requests/, 'and over local http too')
})
