import t from 'tap'
import { buildTestApp, captureLogs } from '../helpers/app.js'
import { TEST_JWT_SECRET } from '../helpers/config.js'
import { call, newAdmin, PASSWORD } from '../helpers/http.js'

const SERVICE = 'logging-test-service-credential-0123456789abcdef'

t.test('logs are JSON with request ids, and never hold a token, a password or a secret', async (t) => {
  // The most verbose level: whatever any level would print, this prints too.
  const logs = captureLogs('trace')
  const ctx = await buildTestApp(t, { INTROSPECTION_TOKENS: SERVICE }, { logger: logs.logger })
  const secrets: string[] = [PASSWORD, TEST_JWT_SECRET, SERVICE]

  const email = ctx.email()
  const newPassword = 'another secret passphrase 42'
  secrets.push(newPassword)
  t.equal((await ctx.app.inject({ method: 'POST', url: '/users', payload: { email, password: PASSWORD } })).statusCode, 201)
  const login = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'x-request-id': 'trace-abc.123' }, payload: { email, password: PASSWORD } })
  t.equal(login.headers['x-request-id'], 'trace-abc.123', "a caller's well-formed request id is kept and echoed")
  const { token } = login.json()
  secrets.push(token, token.split('.')[2])

  t.equal((await call(ctx.app, 'GET', '/me', token)).statusCode, 200)
  t.equal((await call(ctx.app, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: newPassword })).statusCode, 204)
  t.equal((await call(ctx.app, 'PUT', '/me/password', token, { current_password: 'wrong wrong wrong', new_password: newPassword })).statusCode, 401)
  // Failures are where secrets leak: a wrong password, a forged token, broken JSON around a password.
  t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 401)
  t.equal((await ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Token token=${token}x` } })).statusCode, 401)
  const broken = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'content-type': 'application/json' }, payload: `{"email":"${email}","password":"${newPassword}"` })
  t.equal(broken.statusCode, 400)
  t.notMatch(broken.body, newPassword, 'nor in the error answer')
  t.equal((await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${SERVICE}` }, payload: { token } })).statusCode, 200)
  t.equal((await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${SERVICE}x` }, payload: { token } })).statusCode, 401)
  const admin = await newAdmin(ctx)
  secrets.push(admin.token)
  t.equal((await call(ctx.app, 'PUT', '/admin/settings/session-ttl', admin.token, { ttl_seconds: 600 })).statusCode, 200)
  const odd = await ctx.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'bad id\nwith newline' } })
  t.match(odd.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a malformed request id is replaced by a fresh one')

  t.ok(logs.lines.length > 12, `there are logs to check (${logs.lines.length} lines)`)
  const parsed = logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  t.ok(parsed.every((l) => typeof l.level === 'number' && typeof l.time === 'number'), 'every line is pino JSON')
  const requestLines = parsed.filter((l) => l.req !== undefined || l.res !== undefined)
  t.ok(requestLines.length > 0 && requestLines.every((l) => typeof l.reqId === 'string' && l.reqId !== ''), 'every request line has a request id')
  const traced = parsed.filter((l) => l.reqId === 'trace-abc.123')
  t.equal(traced.length, 1, 'one access line per request, under the caller-given id')
  t.match(traced[0], { msg: 'request completed', req: { method: 'POST', url: '/sessions' }, res: { statusCode: 201 }, responseTime: Number })
  t.same(Object.keys(traced[0]!.req as object).sort(), ['host', 'method', 'remoteAddress', 'url'], 'a request is logged as these fields only: no header can get in')
  t.ok(parsed.some((l) => l.msg === 'session TTL changed' && l.by === `admin ${admin.email} (${admin.user.id})` && l.oldTtlSeconds === 1200 && l.newTtlSeconds === 600))

  for (const secret of secrets) {
    const leaks = logs.lines.filter((line) => line.includes(secret))
    t.same(leaks, [], `never logged: ${secret.slice(0, 12)}…`)
  }
})
