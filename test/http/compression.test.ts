import cookie from '@fastify/cookie'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import { PassThrough } from 'node:stream'
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib'
import t from 'tap'
import { COMPRESSION_THRESHOLD_BYTES, registerCompression } from '../../src/http/compression.js'
import { addSessions, buildTestApp, storeOf } from '../helpers/app.js'
import { newAdmin, PASSWORD, signUp } from '../helpers/http.js'
import { openEventStream } from '../console/event-stream.js'

// Large reads go out gzip- or br-compressed; answers with a token or a CSRF token never do (BREACH,
// docs/security.md); the event stream is never held back in a compressor.

const BROWSER = 'gzip, deflate, br, zstd'
const decoded = (encoding: string | undefined, body: Buffer) =>
  encoding === 'gzip' ? gunzipSync(body) : encoding === 'br' ? brotliDecompressSync(body) : body

t.test('a page of sessions: br or gzip as the client asks, the same bytes once decoded', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const user = await signUp(ctx.app, ctx.email())
  await addSessions(await storeOf(t, ctx), user, 100)
  // An admin's read of another user's sessions moves none of them: each answer is the same bytes.
  const url = `/admin/users/${user.id}/sessions?limit=100`
  const get = (acceptEncoding?: string) => ctx.app.inject({
    method: 'GET',
    url,
    headers: { authorization: `Token token=${admin.token}`, ...(acceptEncoding !== undefined && { 'accept-encoding': acceptEncoding }) },
  })

  // Each session's expires_at is worked out from its TTL at the read, to the millisecond: left out.
  const stable = (body: Buffer) => body.toString().replace(/"expires_at":"[^"]+"/g, '"expires_at":-')
  const plain = await get()
  t.equal(plain.statusCode, 200)
  t.equal(plain.json().sessions.length, 100)
  t.ok(plain.rawPayload.length > 20_000, `a page of 100 sessions is large (${plain.rawPayload.length} bytes)`)
  t.equal(plain.headers['content-encoding'], undefined, 'no Accept-Encoding: as it is')

  const cases: Array<[string, string | undefined]> = [
    ['gzip', 'gzip'],
    ['br', 'br'],
    [BROWSER, 'br'],
    ['gzip, br', 'br'],
    ['br;q=0.5, gzip', 'gzip'],
    ['x-gzip', 'gzip'],
    ['deflate', undefined],
    ['zstd', undefined],
    ['identity', undefined],
    ['gzip;q=0, br;q=0', undefined],
  ]
  for (const [acceptEncoding, expected] of cases) {
    const res = await get(acceptEncoding)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-encoding'], expected, `Accept-Encoding: ${acceptEncoding}`)
    t.equal(stable(decoded(expected, res.rawPayload)), stable(plain.rawPayload), `Accept-Encoding: ${acceptEncoding}: the same answer`)
    if (expected !== undefined) {
      t.match(res.headers.vary, /accept-encoding/i, 'caches keep the encodings apart')
      t.ok(res.rawPayload.length < plain.rawPayload.length / 5, `${expected}: ${res.rawPayload.length} of ${plain.rawPayload.length} bytes`)
    }
  }
})

t.test('the OpenAPI document and the metrics are compressed; a small answer is not', async (t) => {
  const ctx = await buildTestApp(t)
  const docs = await ctx.app.inject({ method: 'GET', url: '/docs/json', headers: { 'accept-encoding': 'gzip' } })
  t.equal(docs.headers['content-encoding'], 'gzip')
  const plainDocs = await ctx.app.inject({ method: 'GET', url: '/docs/json' })
  t.same(gunzipSync(docs.rawPayload), plainDocs.rawPayload)

  const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics', headers: { 'accept-encoding': 'gzip' } })
  t.equal(metrics.headers['content-encoding'], 'gzip', 'as Prometheus asks for it')
  t.match(gunzipSync(metrics.rawPayload).toString(), /^# HELP /)

  // GET /me, the hot path: a couple of hundred bytes, sent as they are, whatever the client takes.
  const admin = await newAdmin(ctx)
  const me = await ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Token token=${admin.token}`, 'accept-encoding': BROWSER } })
  t.equal(me.statusCode, 200)
  t.ok(me.rawPayload.length < COMPRESSION_THRESHOLD_BYTES)
  t.equal(me.headers['content-encoding'], undefined)
  t.equal(me.json().user.id, admin.user.id)
})

t.test('a login or sign-up answer is never compressed, however large (BREACH)', async (t) => {
  const ctx = await buildTestApp(t)
  // A long email and audience make the answer larger than the threshold: only the rule keeps it plain.
  const email = `${'a'.repeat(60)}.${'b'.repeat(60)}@${ctx.email().split('@')[1]}`
  const headers = { 'accept-encoding': BROWSER, 'jwt-aud': `app:${'x'.repeat(124)}` }
  const signUpRes = await ctx.app.inject({ method: 'POST', url: '/users', headers, payload: { email, password: PASSWORD, sign_in: true } })
  t.equal(signUpRes.statusCode, 201)
  t.ok(signUpRes.rawPayload.length > COMPRESSION_THRESHOLD_BYTES, `sign-up answer: ${signUpRes.rawPayload.length} bytes, above the threshold`)
  t.equal(signUpRes.headers['content-encoding'], undefined)
  t.type(signUpRes.json().token, 'string')

  const loginRes = await ctx.app.inject({ method: 'POST', url: '/sessions', headers, payload: { email, password: PASSWORD } })
  t.equal(loginRes.statusCode, 201)
  t.ok(loginRes.rawPayload.length > COMPRESSION_THRESHOLD_BYTES, `login answer: ${loginRes.rawPayload.length} bytes, above the threshold`)
  t.equal(loginRes.headers['content-encoding'], undefined)
  t.type(loginRes.json().token, 'string')

  // Nor is a request body decompressed: a small gzip body could be a large one.
  const gzipped = await ctx.app.inject({
    method: 'POST',
    url: '/sessions',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    payload: gzipSync(JSON.stringify({ email, password: PASSWORD })),
  })
  t.equal(gzipped.statusCode, 400)
  t.equal(gzipped.json().error, 'bad_request')
})

t.test('the rules, each on its own, with no threshold: only a read without a secret or a cookie is compressed', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cookie)
  await registerCompression(app, { threshold: 0 })
  const big = { data: 'x'.repeat(2000) }
  app.get('/read', async () => big)
  app.get('/marked', { config: { carriesSecret: true } }, async () => big)
  app.post('/write', async () => big)
  app.put('/change', async () => big)
  app.delete('/gone', async () => big)
  app.route({ method: ['GET', 'POST'], url: '/either', handler: async () => big })
  app.get('/cookie', async (_request, reply) => {
    reply.setCookie('s', 'secret')
    return big
  })
  app.get('/raw-cookie', async (_request, reply) => {
    reply.header('set-cookie', 's=secret')
    return big
  })
  app.get('/events', (_request, reply) => {
    const stream = new PassThrough()
    stream.end('data: {}\n\n'.repeat(200))
    reply.type('text/event-stream; charset=utf-8').send(stream)
  })

  const send = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string) =>
    app.inject({ method, url, headers: { 'accept-encoding': 'gzip, br' } })
  const read = await send('GET', '/read')
  t.equal(read.headers['content-encoding'], 'br', 'the control: a plain read is compressed')
  t.same(JSON.parse(brotliDecompressSync(read.rawPayload).toString()), big)
  const head = await app.inject({ method: 'HEAD', url: '/read', headers: { 'accept-encoding': 'gzip, br' } })
  t.equal(head.statusCode, 200, 'HEAD is a read too')

  for (const [method, url, why] of [
    ['GET', '/marked', 'a route marked carriesSecret'],
    ['POST', '/write', 'an answer to POST'],
    ['PUT', '/change', 'an answer to PUT'],
    ['DELETE', '/gone', 'an answer to DELETE'],
    ['GET', '/either', 'a route that also answers POST, even to GET'],
    ['POST', '/either', 'a route that also answers GET, to POST'],
    ['GET', '/cookie', 'an answer that sets a cookie'],
    ['GET', '/raw-cookie', 'an answer that sets a cookie by hand'],
    ['GET', '/events', 'server-sent events'],
  ] as const) {
    const res = await send(method, url)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-encoding'], undefined, `${why}: as it is`)
    if (url !== '/events') t.equal(res.body, JSON.stringify(big))
  }
  t.match((await send('GET', '/cookie')).headers['set-cookie'], /^s=secret/)
})

t.test('the event stream is not held back by a compressor: events arrive as they happen', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const stream = await openEventStream(`${base}/admin/events`, { authorization: `Token token=${admin.token}`, 'accept-encoding': BROWSER })
  t.teardown(() => stream.close())
  t.equal(stream.status, 200)
  t.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(stream.headers['content-encoding'], undefined)
  // A sign-in after the stream opened: read from Redis within the next poll (1 s), sent at once.
  const email = ctx.email()
  await signUp(ctx.app, email)
  const started = Date.now()
  const login = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })
  const sessionId = JSON.parse(Buffer.from(login.json().token.split('.')[1], 'base64url').toString()).jti
  const event = await stream.waitFor((m) => m.event === 'session' && JSON.parse(m.data).session_id === sessionId, 3000)
  t.equal(JSON.parse(event.data).type, 'created')
  t.ok(Date.now() - started < 3000, `arrived after ${Date.now() - started} ms`)
})
