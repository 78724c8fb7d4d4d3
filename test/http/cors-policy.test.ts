import type { AddressInfo } from 'node:net'
import t from 'tap'
import { PREFLIGHT_MAX_AGE_SECONDS } from '../../src/http/cors-policy.js'
import { buildTestApp } from '../helpers/app.js'
import { newAdmin, newSession } from '../helpers/http.js'
import { openEventStream } from '../console/event-stream.js'

// The CORS policy (docs/api.md#browsers-on-other-origins-cors): the listed origins, with the
// headers the API documents, a preflight browsers may keep for 10 minutes; and the admin API for
// no other origin at all.

const APP = 'https://app.example.com'
const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
]
const corsHeadersOf = (headers: Record<string, unknown>) => CORS_HEADERS.filter((name) => headers[name] !== undefined)

const preflight = (url: string, origin: string, method: string, requestHeaders?: string) => ({
  method: 'OPTIONS' as const,
  url,
  headers: { origin, 'access-control-request-method': method, ...(requestHeaders && { 'access-control-request-headers': requestHeaders }) },
})

t.test('a listed origin: the documented headers, credentials, and a preflight kept 600 s', async (t) => {
  const ctx = await buildTestApp(t, { CORS_ORIGINS: `${APP},https://other.example.com` })
  const res = await ctx.app.inject(preflight('/me', APP, 'GET', 'authorization, jwt-aud, x-request-id'))
  t.equal(res.statusCode, 204)
  t.equal(res.headers['access-control-allow-origin'], APP)
  t.equal(res.headers['access-control-allow-credentials'], 'true')
  t.equal(res.headers['access-control-allow-methods'], 'GET, POST, PUT, DELETE')
  t.equal(res.headers['access-control-allow-headers'], 'authorization, content-type, x-client, x-csrf-token, jwt-aud, x-request-id')
  t.equal(res.headers['access-control-max-age'], '600')
  t.equal(PREFLIGHT_MAX_AGE_SECONDS, 600)
  t.match(res.headers.vary, /\bOrigin\b/, 'the answer depends on the Origin: caches must know')

  // A real call: what the page may read of the answer (a 401's reason, a 429's wait, the limits).
  const { token } = await newSession(ctx)
  const call = await ctx.app.inject({ method: 'GET', url: '/me', headers: { origin: APP, authorization: `Token token=${token}` } })
  t.equal(call.statusCode, 200)
  t.equal(call.headers['access-control-allow-origin'], APP)
  t.equal(call.headers['access-control-allow-credentials'], 'true')
  t.equal(call.headers['access-control-expose-headers'], 'WWW-Authenticate, Retry-After, RateLimit, RateLimit-Policy, X-Request-Id')
  t.notOk(call.headers['access-control-max-age'], 'max-age is for preflights only')
  const refused = await ctx.app.inject({ method: 'GET', url: '/me', headers: { origin: APP } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['access-control-allow-origin'], APP, 'a 401 is readable too, or the page could not see why')

  // The second listed origin is answered as itself, never as the first.
  const other = await ctx.app.inject(preflight('/sessions', 'https://other.example.com', 'POST', 'content-type'))
  t.equal(other.headers['access-control-allow-origin'], 'https://other.example.com')
  // Anyone else: nothing to read, and no permission to send.
  for (const origin of ['https://evil.example', 'https://app.example.com.evil.example', 'http://app.example.com', 'null']) {
    const res = await ctx.app.inject(preflight('/me', origin, 'GET', 'authorization'))
    t.equal(res.statusCode, 405, `${origin}: not a preflight Gatehouse answers (405: /me has no OPTIONS of its own)`)
    t.same(corsHeadersOf(res.headers), [], `${origin}: no CORS header at all`)
    const call = await ctx.app.inject({ method: 'GET', url: '/me', headers: { origin, authorization: `Token token=${token}` } })
    t.same(corsHeadersOf(call.headers), [], `${origin}: a call's answer is not readable`)
  }
  // Nor a request without Origin (an app, a service, a same-origin page): no bytes for nothing.
  t.same(corsHeadersOf((await ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Token token=${token}` } })).headers), [])
})

t.test('the audience header allowed is the configured one (JWT_AUD_HEADER)', async (t) => {
  const ctx = await buildTestApp(t, { CORS_ORIGINS: APP, JWT_AUD_HEADER: 'X-App-Audience' })
  const res = await ctx.app.inject(preflight('/sessions', APP, 'POST', 'content-type, x-app-audience'))
  t.equal(res.statusCode, 204)
  t.equal(res.headers['access-control-allow-headers'], 'authorization, content-type, x-client, x-csrf-token, x-app-audience, x-request-id')
})

t.test('the admin API answers no other origin, preflights included, not even a listed one', async (t) => {
  const ctx = await buildTestApp(t, { CORS_ORIGINS: APP })
  const admin = await newAdmin(ctx)
  const auth = { authorization: `Token token=${admin.token}` }

  const preflights: Array<[string, string]> = [
    ['/admin/users?email=ada@example.com', 'GET'],
    ['/admin/users/00000000-0000-4000-8000-000000000000/role', 'PUT'],
    ['/admin/users/00000000-0000-4000-8000-000000000000/sessions', 'DELETE'],
    ['/admin/settings/session-ttl', 'PUT'],
    ['/admin/events', 'GET'],
    ['/admin/activity', 'GET'],
    ['/admin', 'GET'],
    ['/admin/', 'GET'],
    ['/admin/no-such-route', 'GET'],
    // Spellings the router reads as /admin/...: percent-encoded, or in other case (a 404 anyway).
    ['/%61dmin/users?email=ada@example.com', 'GET'],
    ['/adm%69n/settings/session-ttl', 'PUT'],
    ['/ADMIN/users', 'GET'],
  ]
  for (const [url, method] of preflights) {
    const res = await ctx.app.inject(preflight(url, APP, method, 'authorization, content-type'))
    t.same(corsHeadersOf(res.headers), [], `OPTIONS ${url} (${method}): no CORS header at all`)
    t.ok(res.statusCode === 404 || res.statusCode === 405, `OPTIONS ${url}: not a preflight Gatehouse answers (${res.statusCode}: 405 where the path has routes)`)
  }

  // The server still answers a cross-origin read (a simple GET needs no preflight), but without
  // Access-Control-Allow-Origin the browser keeps the answer from the page.
  const read = await ctx.app.inject({ method: 'GET', url: `/admin/users?email=${encodeURIComponent(admin.email)}`, headers: { ...auth, origin: APP } })
  t.equal(read.statusCode, 200)
  t.same(corsHeadersOf(read.headers), [])
  const encoded = await ctx.app.inject({ method: 'GET', url: `/%61dmin/users?email=${encodeURIComponent(admin.email)}`, headers: { ...auth, origin: APP } })
  t.equal(encoded.statusCode, 200, 'the router reads /%61dmin as /admin')
  t.same(corsHeadersOf(encoded.headers), [], 'and so does the policy')
  const ttl = await ctx.app.inject({ method: 'GET', url: '/admin/settings/session-ttl', headers: { ...auth, origin: APP } })
  t.equal(ttl.statusCode, 200)
  t.same(corsHeadersOf(ttl.headers), [])

  // The console, same-origin, needs no CORS: its calls work as before.
  const own = await ctx.app.inject({ method: 'GET', url: '/admin/settings/session-ttl', headers: auth })
  t.equal(own.statusCode, 200)

  // Beside it, the API for apps answers the listed origin as before.
  const open = await ctx.app.inject(preflight('/sessions/current', APP, 'DELETE', 'x-csrf-token'))
  t.equal(open.statusCode, 204)
  t.equal(open.headers['access-control-allow-origin'], APP)
  // A path that only begins like it is not the admin API.
  const near = await ctx.app.inject(preflight('/administrators', APP, 'GET'))
  t.equal(near.headers['access-control-allow-origin'], APP)

  // The event stream, over real HTTP (a stream never ends for inject): no CORS header either.
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const stream = await openEventStream(`${base}/admin/events`, { ...auth, origin: APP })
  t.teardown(() => stream.close())
  t.equal(stream.status, 200)
  t.same(corsHeadersOf(stream.headers), [])
})

t.test('without CORS_ORIGINS, no origin gets anything, the admin API included', async (t) => {
  const ctx = await buildTestApp(t)
  for (const url of ['/me', '/sessions', '/admin/users']) {
    const res = await ctx.app.inject(preflight(url, APP, 'GET', 'authorization'))
    t.equal(res.statusCode, 405, `OPTIONS ${url}: refused, the path has no OPTIONS of its own`)
    t.same(corsHeadersOf(res.headers), [])
  }
})
