import t from 'tap'
import { startPrivateRedis } from '../faults/private-redis.js'
import { buildTestApp } from '../helpers/app.js'
import { call, newSession } from '../helpers/http.js'

/** One sample's value from Prometheus text, or undefined. */
function sample (text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

t.test('GET /metrics: Prometheus text with the service’s own counters', async (t) => {
  const ctx = await buildTestApp(t)
  const scrape = async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/metrics' })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], 'text/plain; version=0.0.4')
    return res.body
  }

  const { token, email } = await newSession(ctx)
  t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: 'wrong password!!' } })).statusCode, 401)
  t.equal((await call(ctx.app, 'GET', '/me', token)).statusCode, 200)
  t.equal((await call(ctx.app, 'DELETE', '/sessions/current', token)).statusCode, 204)
  t.equal((await call(ctx.app, 'GET', '/me', token)).statusCode, 401)

  const text = await scrape()
  t.equal(sample(text, 'gatehouse_logins_total', 'result="ok"'), 1)
  t.equal(sample(text, 'gatehouse_logins_total', 'result="failed"'), 1)
  t.equal(sample(text, 'gatehouse_sessions_created_total'), 1)
  t.equal(sample(text, 'gatehouse_session_touches_total', 'result="ok"'), 2, 'GET /me and the logout')
  t.equal(sample(text, 'gatehouse_session_touches_total', 'result="gone"'), 1)
  t.equal(sample(text, 'gatehouse_session_revocations_total', 'reason="logout"'), 1)
  t.equal(sample(text, 'gatehouse_active_sessions'), 0, 'counted in Redis')
  t.ok((sample(text, 'gatehouse_redis_operation_duration_seconds_count', 'operation="touch"') ?? 0) >= 2, 'Redis latency per operation')
  t.equal(sample(text, 'gatehouse_http_request_duration_seconds_count', 'method="GET",route="/me",status_code="200"'), 1, 'HTTP latency by route pattern')
  t.equal(sample(text, 'gatehouse_http_request_duration_seconds_count', 'method="GET",route="/me",status_code="401"'), 1)
  t.match(text, /gatehouse_process_cpu_seconds_total/, 'and the process defaults')

  await ctx.app.inject({ method: 'GET', url: '/no/such/thing' })
  await ctx.app.inject({ method: 'GET', url: '/no/such/other/thing' })
  t.equal(sample(await scrape(), 'gatehouse_http_request_duration_seconds_count', 'method="GET",route="unmatched",status_code="404"'), 2, 'unknown URLs share one label: no label explosion')
})

t.test('the active sessions gauge counts live session hashes', async (t) => {
  const ctx = await buildTestApp(t)
  await newSession(ctx)
  await newSession(ctx)
  const text = (await ctx.app.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(text, 'gatehouse_active_sessions'), 2)
})

t.test('concurrent scrapes share one count of the keyspace', async (t) => {
  // A private Redis: its command statistics count only this app's SCANs.
  const redis = await startPrivateRedis(t)
  const ctx = await buildTestApp(t, { REDIS_URL: redis.url })
  await newSession(ctx)
  const scans = async () => Number(/cmdstat_scan:calls=(\d+)/.exec(await ctx.redis.info('commandstats'))?.[1] ?? 0)
  const before = await scans()
  const scrapes = await Promise.all(Array.from({ length: 20 }, () => ctx.app.inject({ method: 'GET', url: '/metrics' })))
  t.ok(scrapes.every((res) => sample(res.body, 'gatehouse_active_sessions') === 1), 'every scrape has the count')
  t.equal((await scans()) - before, 1, '20 scrapes at once: one SCAN of the keyspace, not 20')
  await ctx.app.inject({ method: 'GET', url: '/metrics' })
  t.equal((await scans()) - before, 1, 'and the next scrape within 15 s reuses it')
})

t.test('OpenAPI for the whole API at /docs/json, and a browsable page at /docs', async (t) => {
  // With account mail (an SMTP server never called here), so that its routes are served and described.
  const ctx = await buildTestApp(t, { INTROSPECTION_TOKENS: 'docs-test-service-credential-0123456789abcdef', SMTP_URL: 'smtp://127.0.0.1:9' })
  const res = await ctx.app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const spec = res.json()
  t.equal(spec.openapi, '3.1.0')
  const routes = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
  for (const route of [
    'POST /users',
    'POST /sessions',
    'GET /sessions',
    'DELETE /sessions',
    'DELETE /sessions/current',
    'DELETE /sessions/{id}',
    'GET /me',
    'PUT /me/password',
    'DELETE /me',
    'POST /password-resets',
    'POST /password-resets/confirm',
    'POST /email-verifications',
    'POST /email-verifications/confirm',
    'DELETE /admin/users/{id}',
    'GET /admin/users/{id}/sessions',
    'DELETE /admin/users/{id}/sessions',
    'PUT /admin/users/{id}/role',
    'GET /admin/settings/session-ttl',
    'PUT /admin/settings/session-ttl',
    'DELETE /admin/settings/session-ttl',
    'POST /introspect',
    'GET /.well-known/jwks.json',
    'GET /health',
    'GET /ready',
  ]) {
    t.ok(routes.includes(route), route)
  }
  t.same(spec.paths['/me'].get.security, [{ sessionToken: [] }, { sessionCookie: [] }], 'authenticated routes say how: the token, or the cookie')
  t.same(spec.paths['/me/password'].put.security, [{ sessionToken: [] }, { sessionCookie: [], csrfToken: [] }], 'with the cookie, a change needs the CSRF header too')
  t.same(spec.paths['/introspect'].post.security, [{ serviceCredential: [] }])
  t.same(spec.paths['/users'].post.security, [], 'sign-up needs nothing')
  t.ok(spec.paths['/sessions'].post.requestBody.content['application/json'].schema.properties.password, 'request bodies come from the route schemas')
  const login = spec.paths['/sessions'].post.responses['201'].content['application/json'].schema
  t.match(login.required, ['user', 'expires_at', 'max_expires_at', 'idle_timeout_seconds'], 'the login answer carries the session\'s clock')
  t.ok(spec.paths['/users'].post.requestBody.content['application/json'].schema.properties.sign_in, 'sign-up takes sign_in')
  t.same(spec.paths['/password-resets'].post.responses['202'].content['application/json'].schema.properties.status.enum, ['accepted'])

  const page = await ctx.app.inject({ method: 'GET', url: '/docs/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], 'text/html')
})
