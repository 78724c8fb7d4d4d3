import { connect, type Socket } from 'node:net'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { API_SECURITY_HEADERS } from '../../src/http/security-headers.js'
import { urlForLog } from '../../src/shared/redact-url.js'
import { buildTestApp, captureLogs } from '../helpers/app.js'
import { PASSWORD } from '../helpers/http.js'

// The answers Fastify and Node would give on their own (a URL the router refuses, a wrong method,
// a body that is not JSON, headers too large): the same {error, message} and headers as every
// other answer, one access-log line, and never the client's input quoted back.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ORIGIN = 'https://app.example.com'
const JSON_TYPE = 'application/json; charset=utf-8'

/** The status, the exact body, and the headers every JSON answer carries. */
function isAnswer (t: Test, res: LightMyRequestResponse, status: number, body: { error: string, message: string }, name: string) {
  t.equal(res.statusCode, status, `${name}: ${status}`)
  t.same(res.json(), body, `${name}: body`)
  t.equal(res.headers['content-type'], JSON_TYPE, `${name}: JSON, utf-8`)
  t.match(res.headers['x-request-id'], UUID, `${name}: a request id`)
  for (const [header, value] of Object.entries(API_SECURITY_HEADERS)) t.equal(res.headers[header], value, `${name}: ${header}`)
}

const BAD_URL = { error: 'bad_request', message: 'The URL is not a valid path (check its percent-encoding)' }
const TOO_LONG = { error: 'uri_too_long', message: 'A segment of the path is too long' }

t.test('a URL the router refuses gets the API\'s answer, headers and one access-log line', async (t) => {
  const logs = captureLogs('info')
  const ctx = await buildTestApp(t, { CORS_ORIGINS: ORIGIN }, { logger: logs.logger })
  const cases: Array<[InjectOptions & { url: string }, number, typeof BAD_URL]> = [
    [{ method: 'GET', url: '/%' }, 400, BAD_URL],
    [{ method: 'GET', url: '/me%zz' }, 400, BAD_URL],
    [{ method: 'DELETE', url: '/sessions/%zz' }, 400, BAD_URL],
    [{ method: 'DELETE', url: '/admin/users/%E0%A4%A/sessions' }, 400, BAD_URL],
    // No route has PATCH: Fastify's not-found router refuses the URL instead.
    [{ method: 'PATCH', url: '/%' }, 400, BAD_URL],
    [{ method: 'POST', url: '/sessions/%zz?x=1', payload: { email: 'a@b.c', password: PASSWORD } }, 400, BAD_URL],
    [{ method: 'DELETE', url: `/sessions/${'a'.repeat(385)}` }, 414, TOO_LONG],
    [{ method: 'DELETE', url: `/admin/settings/clients/${'%2F'.repeat(385)}` }, 414, TOO_LONG],
  ]
  for (const [request, status, body] of cases) {
    const name = `${request.method} ${request.url.slice(0, 40)}`
    const before = logs.lines.length
    const res = await ctx.app.inject({ ...request, headers: { origin: ORIGIN } })
    isAnswer(t, res, status, body, name)
    // A path the router cannot read may be the admin API's, which answers no other origin (cors-policy.ts).
    const cors = status === 414 && !request.url.startsWith('/admin/') ? ORIGIN : undefined
    t.equal(res.headers['access-control-allow-origin'], cors, `${name}: CORS headers only where the path is readable and not the admin API's`)
    t.notOk(res.headers.connection === 'close', `${name}: the connection stays open`)
    const lines = logs.lines.slice(before).map((line) => JSON.parse(line)).filter((line) => line.msg === 'request completed')
    t.equal(lines.length, 1, `${name}: one access-log line`)
    t.match(lines[0], { reqId: res.headers['x-request-id'], req: { method: request.method, url: urlForLog(request.url) }, res: { statusCode: status } }, `${name}: naming the URL asked for`)
  }
  t.equal(
    (await ctx.app.inject({ method: 'GET', url: '/metrics' })).body.match(/^gatehouse_http_request_duration_seconds_count\{method="DELETE",route="unmatched",status_code="414"\} 2$/m)?.length, 1,
    'and counted in the metrics, as unmatched'
  )
})

t.test('a path parameter may be 384 characters long, not 385', async (t) => {
  const ctx = await buildTestApp(t)
  const at = await ctx.app.inject({ method: 'DELETE', url: `/sessions/${'a'.repeat(384)}` })
  t.equal(at.statusCode, 401, '384: the route answers (no token)')
  isAnswer(t, await ctx.app.inject({ method: 'DELETE', url: `/sessions/${'a'.repeat(385)}` }), 414, TOO_LONG, '385')
  // Counted decoded: a client name's `/` is three characters in the URL, one in the limit.
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `/admin/settings/clients/${'%2F'.repeat(384)}` })).statusCode, 401, '384 escaped characters: the route answers')
  isAnswer(t, await ctx.app.inject({ method: 'DELETE', url: `/admin/settings/clients/${'%2F'.repeat(385)}` }), 414, TOO_LONG, '385 escaped')
})

t.test('no answer quotes the path back: not CR/LF, not markup, not its length', async (t) => {
  const ctx = await buildTestApp(t)
  const evil = '%0D%0ASet-Cookie:%20x=1%0D%0A%3Cscript%3Ealert(1)%3C%2Fscript%3E'
  const answers = [
    [await ctx.app.inject({ method: 'GET', url: `/${evil}` }), 404, { error: 'not_found', message: 'No route for GET at this path' }],
    [await ctx.app.inject({ method: 'GET', url: `/${evil}%zz` }), 400, BAD_URL],
    [await ctx.app.inject({ method: 'DELETE', url: `/sessions/${evil}%` }), 400, BAD_URL],
    [await ctx.app.inject({ method: 'DELETE', url: `/sessions/${evil}${'a'.repeat(400)}` }), 414, TOO_LONG],
    [await ctx.app.inject({ method: 'POST', url: `/admin/users/${evil}` }), 405, { error: 'method_not_allowed', message: 'POST is not allowed on this path; it answers DELETE' }],
  ] as const
  for (const [res, status, body] of answers) {
    isAnswer(t, res, status, body, `${status}`)
    t.notMatch(res.body, /script|Set-Cookie|\r|\n|aaaa/i, `${status}: nothing of the path`)
    t.notOk(res.headers['set-cookie'], `${status}: no header from the path`)
  }
  // The stand-in path the refused URLs are routed to has no route of its own.
  isAnswer(t, await ctx.app.inject({ method: 'GET', url: '/.gatehouse-router-error' }), 404, { error: 'not_found', message: 'No route for GET at this path' }, 'stand-in path')
})

t.test('a wrong method on a known path is 405 with Allow, an unknown path 404', async (t) => {
  const logs = captureLogs('info')
  const ctx = await buildTestApp(t, {}, { logger: logs.logger })
  const cases: Array<[string, string, string]> = [
    ['PATCH', '/me', 'GET, HEAD, DELETE'],
    ['POST', '/me', 'GET, HEAD, DELETE'],
    ['DELETE', '/health', 'GET, HEAD'],
    ['GET', '/me/password', 'PUT'],
    ['PUT', '/sessions', 'GET, HEAD, POST, DELETE'],
    // Routes with parameters match any value, and the query string is not part of the path.
    ['GET', '/sessions/AAAAAAAAAAAAAAAAAAAAAA', 'DELETE'],
    ['HEAD', '/sessions/x?y=1', 'DELETE'],
    ['GET', '/admin/users/00000000-0000-0000-0000-000000000000/role', 'PUT'],
    ['POST', '/admin/settings/clients/com.example.ios', 'PUT, DELETE'],
    // CORS is off: OPTIONS is not answered, so a 405 too.
    ['OPTIONS', '/me', 'GET, HEAD, DELETE'],
  ]
  for (const [method, url, allow] of cases) {
    const res = await ctx.app.inject({ method: method as 'GET', url })
    t.equal(res.statusCode, 405, `${method} ${url}: 405`)
    t.equal(res.headers.allow, allow, `${method} ${url}: Allow`)
    t.match(res.headers['x-request-id'], UUID)
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    if (method !== 'HEAD') {
      t.same(res.json(), { error: 'method_not_allowed', message: `${method} is not allowed on this path; it answers ${allow}` }, `${method} ${url}: body`)
    }
  }
  const lines = logs.lines.map((line) => JSON.parse(line)).filter((line) => line.msg === 'request completed')
  t.same(lines.map((line) => line.res.statusCode), Array(cases.length).fill(405), 'one access-log line each')

  for (const url of ['/nothing', '/me/nothing', '/sessions/a/b', '/admin']) {
    const res = await ctx.app.inject({ method: 'GET', url })
    isAnswer(t, res, 404, { error: 'not_found', message: 'No route for GET at this path' }, `GET ${url}`)
    t.notOk(res.headers.allow, `GET ${url}: no Allow`)
  }
  t.equal((await ctx.app.inject({ method: 'GET', url: '/me' })).statusCode, 401, 'the right method still reaches its route')
})

t.test('with CORS on, Allow still names the methods of the path: a preflight is CORS\'s, for listed origins only', async (t) => {
  const ctx = await buildTestApp(t, { CORS_ORIGINS: ORIGIN })
  const res = await ctx.app.inject({ method: 'PATCH', url: '/me', headers: { origin: ORIGIN } })
  t.equal(res.statusCode, 405)
  t.equal(res.headers.allow, 'GET, HEAD, DELETE')
  t.equal(res.headers['access-control-allow-origin'], ORIGIN)
  const preflight = await ctx.app.inject({ method: 'OPTIONS', url: '/me', headers: { origin: ORIGIN, 'access-control-request-method': 'DELETE' } })
  t.equal(preflight.statusCode, 204, 'and OPTIONS is answered there')
})

t.test('a body that is not JSON says what is wrong with it', async (t) => {
  const ctx = await buildTestApp(t)
  const post = (payload: string, url = '/users') => ctx.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload })
  const email = ctx.email()
  const proto = { error: 'bad_request', message: 'Body must not contain the key "__proto__"' }
  const ctor = { error: 'bad_request', message: 'Body must not contain a "constructor" key holding a "prototype" key' }
  const cases: Array<[string, string, number, { error: string, message: string }]> = [
    ['__proto__', `{"email":"${email}","password":"${PASSWORD}","__proto__":{"role":"admin"}}`, 400, proto],
    ['__proto__, nested', `{"email":"${email}","password":"${PASSWORD}","x":[{"__proto__":{}}]}`, 400, proto],
    ['__proto__, escaped', `{"email":"${email}","password":"${PASSWORD}","\\u005f_proto__":{}}`, 400, proto],
    ['constructor.prototype', `{"email":"${email}","password":"${PASSWORD}","constructor":{"prototype":{"role":"admin"}}}`, 400, ctor],
    ['both', '{"__proto__":{},"constructor":{"prototype":{}}}', 400, { error: 'bad_request', message: 'Body must not contain the key "__proto__", nor a "constructor" key holding a "prototype" key' }],
    ['cut short', `{"email":"${email}",`, 400, { error: 'bad_request', message: 'Body is not valid JSON' }],
    ['not JSON at all', '<script>alert(1)</script>', 400, { error: 'bad_request', message: 'Body is not valid JSON' }],
    ['__proto__ and invalid', '{"__proto__":{}', 400, { error: 'bad_request', message: 'Body is not valid JSON' }],
    ['empty: no body, which the route needs', '', 400, { error: 'bad_request', message: 'body must be object' }],
  ]
  for (const [name, payload, status, body] of cases) isAnswer(t, await post(payload), status, body, name)
  // The words are refused as keys only: as values, or a "constructor" with no "prototype", they are data.
  t.equal((await post(`{"email":"${email}","password":"__proto__ constructor prototype"}`)).statusCode, 201, 'in a value: signed up')
  t.equal((await post(`{"email":"${ctx.email()}","password":"${PASSWORD}","constructor":{}}`)).json().error, 'bad_request', 'a plain "constructor" key: an unknown field')
  t.match((await post(`{"email":"${ctx.email()}","password":"${PASSWORD}","constructor":{}}`)).json().message, /additional properties/)

  isAnswer(t, await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'content-type': 'text/plain' }, payload: 'x' }), 415,
    { error: 'unsupported_media_type', message: 'Unsupported Media Type' }, 'text/plain')
})

/** One HTTP/1.1 connection, kept open: each call sends bytes and reads one whole answer. */
function connection (port: number) {
  const socket: Socket = connect(port, '127.0.0.1')
  let buffered = ''
  let closed = false
  let wake = () => {}
  socket.setEncoding('utf8')
  socket.on('data', (chunk) => { buffered += chunk; wake() })
  socket.on('close', () => { closed = true; wake() })
  socket.on('error', () => {})
  const answer = async (): Promise<{ head: string, headers: Record<string, string>, body: string }> => {
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n')
      if (end >= 0) {
        const head = buffered.slice(0, end)
        const headers = Object.fromEntries(head.split('\r\n').slice(1).map((line) => {
          const colon = line.indexOf(':')
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
        }))
        const length = Number(headers['content-length'] ?? 0)
        if (buffered.length >= end + 4 + length) {
          const body = buffered.slice(end + 4, end + 4 + length)
          buffered = buffered.slice(end + 4 + length)
          return { head, headers, body }
        }
      }
      if (closed) throw new Error(`connection closed; received ${JSON.stringify(buffered)}`)
      await new Promise<void>((resolve) => { wake = resolve })
    }
  }
  return {
    socket,
    get closed () { return closed },
    async exchange (bytes: string) {
      socket.write(bytes)
      return answer()
    },
    closedSoon: () => new Promise<boolean>((resolve) => {
      if (closed) return resolve(true)
      const timer = setTimeout(() => resolve(false), 2000)
      socket.once('close', () => { clearTimeout(timer); resolve(true) })
    }),
  }
}

/** As Node's and browsers' clients send them: asking to keep the connection. */
const post = (path: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`

t.test('over real HTTP: a body read whole but refused keeps the connection; one over the limit closes it', async (t) => {
  const ctx = await buildTestApp(t)
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }

  const kept = connection(port)
  t.teardown(() => kept.socket.destroy())
  const refusals: Array<[string, string]> = [
    ['{"email": ', 'Body is not valid JSON'],
    ['{"__proto__":{"role":"admin"}}', 'Body must not contain the key "__proto__"'],
  ]
  for (const [body, message] of refusals) {
    const refused = await kept.exchange(post('/sessions', body))
    t.match(refused.head, /^HTTP\/1\.1 400 Bad Request/)
    t.same(JSON.parse(refused.body), { error: 'bad_request', message })
    // (Removing Fastify's "close" leaves Node no Connection header to write; HTTP/1.1 keeps it open.)
    t.equal(refused.headers.connection, undefined, `${message}: no Connection: close`)
  }
  const wrongMethod = await kept.exchange('PATCH /me HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(wrongMethod.head, /^HTTP\/1\.1 405 /)
  const badUrl = await kept.exchange('GET /% HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(badUrl.head, /^HTTP\/1\.1 400 /)
  t.same(JSON.parse(badUrl.body), BAD_URL)
  const next = await kept.exchange('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(next.head, /^HTTP\/1\.1 200 /, 'the next request on the same connection is answered')
  t.same(JSON.parse(next.body), { status: 'ok' })
  t.notOk(kept.closed, 'and the connection is still open')

  const over = connection(port)
  t.teardown(() => over.socket.destroy())
  const tooLarge = await over.exchange(post('/sessions', JSON.stringify({ email: 'a@b.c', password: 'x'.repeat(20_000) })))
  t.match(tooLarge.head, /^HTTP\/1\.1 413 /)
  t.equal(tooLarge.headers.connection, 'close', '413: Connection: close')
  t.same(JSON.parse(tooLarge.body), { error: 'payload_too_large', message: 'Request body is too large' })
  t.ok(await over.closedSoon(), '413: and closed')
})

t.test('the answers Node writes itself (431, malformed HTTP) carry a request id, Date and the security headers', async (t) => {
  const logs = captureLogs('info')
  const ctx = await buildTestApp(t, {}, { logger: logs.logger })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }

  const cases: Array<[string, string, number, { error: string, message: string }]> = [
    ['431', `GET /me HTTP/1.1\r\nHost: x\r\nX-Request-Id: mine\r\nAuthorization: Token token=${'a'.repeat(20_000)}\r\n\r\n`, 431, { error: 'headers_too_large', message: 'Request headers are too large' }],
    ['a URL over the header limit', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, { error: 'headers_too_large', message: 'Request headers are too large' }],
    ['malformed', 'THIS IS NOT HTTP\r\n\r\n', 400, { error: 'bad_request', message: 'Malformed HTTP request' }],
    ['CR in a header value', 'GET /health HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n', 400, { error: 'bad_request', message: 'Malformed HTTP request' }],
  ]
  for (const [name, bytes, status, body] of cases) {
    const raw = connection(port)
    t.teardown(() => raw.socket.destroy())
    const before = Date.now()
    const res = await raw.exchange(bytes)
    t.match(res.head, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${status}`)
    t.same(JSON.parse(res.body), body, `${name}: body`)
    t.equal(res.headers['content-type'], JSON_TYPE, `${name}: JSON, utf-8`)
    t.match(res.headers['x-request-id'], UUID, `${name}: a fresh request id`)
    t.ok(Math.abs(Date.parse(res.headers.date ?? '') - before) < 5000, `${name}: Date is now (${res.headers.date})`)
    t.equal(res.headers['cache-control'], 'no-store', `${name}: not cached`)
    for (const [header, value] of Object.entries(API_SECURITY_HEADERS)) t.equal(res.headers[header], value, `${name}: ${header}`)
    t.equal(res.headers.connection, 'close', `${name}: Connection: close`)
    t.ok(await raw.closedSoon(), `${name}: and closed`)
    const line = logs.lines.map((l) => JSON.parse(l)).find((l) => l.reqId === res.headers['x-request-id'])
    t.match(line, { level: 30, msg: 'client error', res: { statusCode: status } }, `${name}: its log line names the request id`)
  }
})
