import { generateKeyPairSync } from 'node:crypto'
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net'
import { createSessionReader, csrfTokenFor, type SessionReaderOptions } from '@gatehouse/session-reader'
import { gatehouseSessions as expressSessions, sessionOf as expressSession } from '@gatehouse/session-reader/express'
import { gatehouseSessions as fastifySessions, sessionOf as fastifySession } from '@gatehouse/session-reader/fastify'
import express from 'express'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { startPrivateRedis } from '../faults/private-redis.js'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { call, newAdmin, newSession, PASSWORD } from '../helpers/http.js'
import { adminClient, sessionKeyOf } from '../helpers/redis.js'
import { eventually, sleep } from '../helpers/wait.js'

// The Fastify plugin and the Express middleware, each in a little service of its own behind real
// HTTP, next to a live Gatehouse: the same sessions, and the same answers as Gatehouse gives.

interface Answer { status: number, headers: Headers, body: Record<string, unknown> }
type Service = (path: string, init?: RequestInit) => Promise<Answer>

const ORIGIN = 'https://app.example.com'

// Gatehouse signs with EdDSA; the services hold its public key only.
const signing = generateKeyPairSync('ed25519')
const EDDSA = { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: signing.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() }
const PUBLIC_KEY = signing.publicKey.export({ format: 'pem', type: 'spki' }).toString()

function readerOptions (ctx: TestContext, extra: Partial<SessionReaderOptions> = {}): SessionReaderOptions {
  return { redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { publicKeys: [PUBLIC_KEY] }, ...extra }
}

async function serve (t: Test, server: { address(): AddressInfo | string | null, close(cb?: () => void): unknown }): Promise<Service> {
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()) }))
  const { port } = server.address() as AddressInfo
  return async (path, init) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, init)
    return { status: res.status, headers: res.headers, body: await res.json() as Record<string, unknown> }
  }
}

/** A chat service on Fastify: GET and POST /chat behind gatehouseAuthenticate. */
async function fastifyService (t: Test, options: Parameters<typeof fastifySessions>[1]): Promise<Service> {
  const app = Fastify()
  await app.register(fastifySessions, options)
  app.get('/chat', { onRequest: app.gatehouseAuthenticate }, async (request) => ({ user: fastifySession(request).userId, role: request.gatehouse?.role }))
  app.post('/chat', { onRequest: app.gatehouseAuthenticate }, async (request) => ({ posted: fastifySession(request).userId }))
  // Not guarded (a routing mistake): sessionOf must not pass it.
  app.get('/open', async (request) => ({ user: fastifySession(request).userId }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return serve(t, app.server)
}

/** The same service on Express. */
async function expressService (t: Test, options: Parameters<typeof expressSessions>[0]): Promise<Service> {
  const app = express()
  app.use('/chat', expressSessions(options))
  app.get('/chat', (req, res) => { res.json({ user: expressSession(req).userId, role: req.gatehouse?.role }) })
  app.post('/chat', (req, res) => { res.json({ posted: expressSession(req).userId }) })
  app.get('/open', (req, res) => { res.json({ user: expressSession(req).userId }) })
  app.use(((_err, _req, res, _next) => { res.status(500).json({ error: 'internal' }) }) as express.ErrorRequestHandler)
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return serve(t, server)
}

const frameworks = { fastify: fastifyService, express: expressService }

for (const [name, build] of Object.entries(frameworks)) {
  t.test(`${name}: the session on the request, and Gatehouse's own 401s`, async (t) => {
    const ctx = await buildTestApp(t, EDDSA)
    const service = await build(t, { reader: createSessionReader(readerOptions(ctx)) })
    const { user, token } = await newSession(ctx)

    for (const authorization of [`Token token=${token}`, `Token token="${token}", device="ios"`, `Bearer ${token}`]) {
      const ok = await service('/chat', { headers: { authorization } })
      t.same([ok.status, ok.body], [200, { user: user.id, role: 'user' }], authorization.slice(0, 12))
      t.equal(ok.headers.get('cache-control'), 'no-store')
    }

    /** The service's answer and Gatehouse's (GET /me) to the same credentials are the same. */
    const sameAsGatehouse = async (what: string, headers: Record<string, string>, error: string) => {
      const fromService = await service('/chat', { headers })
      const fromGatehouse = await ctx.app.inject({ method: 'GET', url: '/me', headers })
      t.equal(fromService.status, 401, what)
      t.equal(fromService.body.error, error, what)
      t.same(fromService.body, fromGatehouse.json(), `${what}: the body Gatehouse gives`)
      t.equal(fromService.headers.get('www-authenticate'), fromGatehouse.headers['www-authenticate'], `${what}: the challenge Gatehouse gives`)
    }
    const open = await service('/open', { headers: { authorization: `Token token=${token}` } })
    t.equal(open.status, 500, 'sessionOf on a route nothing guards: a 500, never a pass')
    await sameAsGatehouse('no token', {}, 'missing_token')
    await sameAsGatehouse('a Basic header', { authorization: 'Basic dXNlcjpwYXNz' }, 'missing_token')
    await sameAsGatehouse('garbage', { authorization: 'Token token=garbage' }, 'invalid_token')
    await sameAsGatehouse('a 5 KB token', { authorization: `Token token=${'a'.repeat(5000)}` }, 'invalid_token')
    await sameAsGatehouse('a forged signature', { authorization: `Token token=${token.slice(0, -4)}AAAA` }, 'invalid_token')
    t.equal((await call(ctx.app, 'DELETE', '/sessions/current', token)).statusCode, 204)
    await sameAsGatehouse('garbage, as Bearer', { authorization: 'Bearer garbage' }, 'invalid_token')
    await sameAsGatehouse('an empty Bearer', { authorization: 'Bearer' }, 'missing_token')
    await sameAsGatehouse('after logout', { authorization: `Token token=${token}` }, 'session_expired')
    await sameAsGatehouse('after logout, as Bearer', { authorization: `Bearer ${token}` }, 'session_expired')
    t.equal((await service('/chat', { headers: { authorization: `Token token=${token}` } })).body.reason, 'logged_out', 'and it says why: its own logout')
  })

  t.test(`${name}: the web app's cookie, with the CSRF check of Gatehouse`, async (t) => {
    const ctx = await buildTestApp(t, { ...EDDSA, CORS_ORIGINS: ORIGIN, COOKIE_DOMAIN: 'example.com' })
    const email = ctx.email()
    await ctx.app.inject({ method: 'POST', url: '/users', payload: { email, password: PASSWORD } })
    const login = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { origin: ORIGIN }, payload: { email, password: PASSWORD, transport: 'cookie' } })
    const cookie = login.cookies.find((c) => c.name === '__Secure-gatehouse_session')!
    t.equal(cookie.domain, 'example.com', 'scoped to the domain, so chat.example.com receives it')
    const token = cookie.value
    const jar = `__Secure-gatehouse_session=${token}; theme=dark`

    const withoutCookies = await build(t, { reader: createSessionReader(readerOptions(ctx)) })
    t.equal((await withoutCookies('/chat', { headers: { cookie: jar } })).body.error, 'missing_token', 'cookies are read only when asked for')

    const hostOnly = await build(t, { reader: createSessionReader(readerOptions(ctx)), cookie: { allowedOrigins: [ORIGIN] } })
    t.equal((await hostOnly('/chat', { headers: { cookie: jar } })).body.error, 'missing_token', 'without shared, a __Secure- cookie (which any sibling could plant) is not read')
    t.equal((await hostOnly('/chat', { headers: { cookie: `__Host-gatehouse_session=${token}` } })).status, 200, 'the __Host- one is')

    const service = await build(t, { reader: createSessionReader(readerOptions(ctx)), cookie: { allowedOrigins: [ORIGIN], shared: true } })
    t.equal((await service('/chat', { headers: { cookie: jar } })).status, 200, 'GET with the cookie')
    t.equal((await service('/chat', { headers: { cookie: `__Host-gatehouse_session=${token}` } })).status, 200, 'the host-only name too')
    const post = (headers: Record<string, string>) => service('/chat', { method: 'POST', headers: { cookie: jar, ...headers } })
    t.match(await post({ origin: ORIGIN }), { status: 403, body: { error: 'csrf_rejected', message: /no x-csrf-token header/ } })
    t.match(await post({ origin: ORIGIN, 'x-csrf-token': csrfTokenFor('another') }), { status: 403, body: { error: 'csrf_rejected' } })
    t.match(await post({ origin: 'https://evil.example', 'x-csrf-token': csrfTokenFor(token) }), { status: 403, body: { message: /evil.example is not in the allowed origins/ } })
    t.match(await post({ origin: ORIGIN, 'sec-fetch-site': 'cross-site', 'x-csrf-token': csrfTokenFor(token) }), { status: 403 })
    t.match(await post({ origin: ORIGIN, 'x-csrf-token': csrfTokenFor(token) }), { status: 200, body: { posted: String(login.json().user.id) } })
    t.match(await post({ origin: ORIGIN, authorization: `Token token=${token}` }), { status: 200 }, 'the header needs no CSRF proof')
    // In Gatehouse's order: a cookie request from a foreign origin is refused before its session is looked at.
    t.equal((await call(ctx.app, 'DELETE', '/sessions/current', token)).statusCode, 204)
    const foreign = { cookie: jar, origin: 'https://evil.example' }
    t.match(await service('/chat', { method: 'POST', headers: foreign }), { status: 403, body: { error: 'csrf_rejected' } })
    t.equal((await ctx.app.inject({ method: 'DELETE', url: '/sessions', headers: { ...foreign, cookie: `__Secure-gatehouse_session=${token}` } })).statusCode, 403, 'as Gatehouse does')
    t.match(await service('/chat', { headers: { cookie: jar } }), { status: 401, body: { error: 'session_expired' } }, 'a GET learns it is over')

    // A second session cookie of the same name (planted by a sibling subdomain): refused, never guessed.
    const other = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { origin: ORIGIN }, payload: { email, password: PASSWORD, transport: 'cookie' } })
    const planted = other.cookies.find((c) => c.name === '__Secure-gatehouse_session')!.value
    const twice = `__Secure-gatehouse_session=${planted}; __Secure-gatehouse_session=${token}`
    t.equal((await service('/chat', { headers: { cookie: twice } })).body.error, 'invalid_token')
    t.equal((await ctx.app.inject({ method: 'GET', url: '/me', headers: { cookie: twice } })).json().error, 'invalid_token', 'Gatehouse refuses it too')
  })

  t.test(`${name}: a token bound to an audience needs the JWT-Aud header`, async (t) => {
    const ctx = await buildTestApp(t, EDDSA)
    const service = await build(t, { reader: createSessionReader(readerOptions(ctx)) })
    const { email } = await newSession(ctx)
    const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'jwt-aud': 'ios-app' }, payload: { email, password: PASSWORD } })
    const authorization = `Token token=${res.json().token}`
    t.equal((await service('/chat', { headers: { authorization, 'jwt-aud': 'ios-app' } })).status, 200)
    t.match(await service('/chat', { headers: { authorization } }), { status: 401, body: { error: 'invalid_token' } })
    t.match(await service('/chat', { headers: { authorization, 'jwt-aud': 'web' } }), { status: 401, body: { error: 'invalid_token' } })
  })

  t.test(`${name}: Redis down or frozen is 503 with Retry-After, as at Gatehouse, never a pass`, async (t) => {
    const redis = await startPrivateRedis(t)
    const ctx = await buildTestApp(t, { ...EDDSA, REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '300' })
    const client = adminClient(ctx.config)
    t.teardown(() => client.disconnect())
    const service = await build(t, { reader: createSessionReader({ ...readerOptions(ctx), redis: client, timeoutMs: 300 }) })
    const { token } = await newSession(ctx)
    const headers = { authorization: `Token token=${token}` }
    t.equal((await service('/chat', { headers })).status, 200)

    redis.freeze()
    const frozen = await service('/chat', { headers })
    t.match(frozen, { status: 503, body: { error: 'service_unavailable', message: /\(redis\)/ } })
    t.equal(frozen.headers.get('retry-after'), '5')
    const fromGatehouse = await ctx.app.inject({ method: 'GET', url: '/me', headers })
    t.same(frozen.body, fromGatehouse.json(), 'the body Gatehouse gives')
    redis.thaw()
    await redis.kill()
    t.match(await service('/chat', { headers }), { status: 503 }, 'killed')
    await redis.start() // back (empty), so that the app closes as usual
  })

  t.test(`${name}: extend slides the session through Gatehouse's POST /introspect, once a tenth of the idle timeout has passed`, async (t) => {
    const credential = 'middleware-test-introspection-credential-0000'
    const ctx = await buildTestApp(t, { ...EDDSA, INTROSPECTION_TOKENS: credential })
    await ctx.app.listen({ port: 0, host: '127.0.0.1' })
    const url = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}/introspect`
    const owner = await newAdmin(ctx)
    // A 10 s idle timeout: a slide is due after 1 s without one.
    t.equal((await call(ctx.app, 'PUT', '/admin/settings/session-ttl', owner.token, { ttl_seconds: 10 })).statusCode, 200)
    const reader = createSessionReader(readerOptions(ctx, { introspection: { url, credential } }))
    const service = await build(t, { reader, extend: true })
    const plain = await build(t, { reader })
    const { token } = await newSession(ctx)
    const key = sessionKeyOf(ctx, token)
    const headers = { authorization: `Token token=${token}` }
    const lastSeen = async () => Number(await ctx.redis.hget(key, 'last_seen_at'))

    const seen = await lastSeen()
    t.equal((await service('/chat', { headers })).status, 200)
    t.equal(await lastSeen(), seen, 'used less than a tenth of the timeout ago: no slide yet')
    await sleep(1100)
    t.equal((await plain('/chat', { headers })).status, 200)
    t.equal(await lastSeen(), seen, 'without extend, nothing is written')
    t.equal((await service('/chat', { headers })).status, 200)
    t.ok(await eventually(5000, async () => (await lastSeen()) > seen), 'with extend, and due: Gatehouse slid it, beside the request')
    const slid = await lastSeen()

    const faults: Error[] = []
    const wrong = await build(t, { reader: createSessionReader(readerOptions(ctx, { introspection: { url, credential: 'not-the-credential-00000000000000000' } })), extend: true, onFault: (err) => faults.push(err) })
    await sleep(1100)
    t.equal((await wrong('/chat', { headers })).status, 200, 'a refused credential: the session is live by Redis, so the request is served')
    t.ok(await eventually(5000, () => faults.length > 0), 'and the fault of the service is told')
    t.match(faults, [{ name: 'ReaderUnavailableError', dependency: 'gatehouse' }])
    t.equal(await lastSeen(), slid, 'but nothing slid')
  })

  t.test(`${name}: a Gatehouse that hangs holds up no request, and is not called again at once`, async (t) => {
    const ctx = await buildTestApp(t, EDDSA)
    const owner = await newAdmin(ctx)
    t.equal((await call(ctx.app, 'PUT', '/admin/settings/session-ttl', owner.token, { ttl_seconds: 10 })).statusCode, 200)
    // Reads requests and never answers. (Counted by request: after an abort, undici may open an idle connection.)
    let calls = 0
    const sockets = new Set<Socket>()
    const hang = createNetServer((socket) => {
      sockets.add(socket)
      socket.on('data', (chunk: Buffer) => { if (chunk.toString('latin1').startsWith('POST ')) calls++ })
    })
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve))
    t.teardown(() => { for (const socket of sockets) socket.destroy(); hang.close() })
    const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/introspect`
    const faults: Error[] = []
    const reader = createSessionReader(readerOptions(ctx, { introspection: { url, credential: 'middleware-test-introspection-credential-0000', timeoutMs: 3000 } }))
    const service = await build(t, { reader, extend: true, onFault: (err) => faults.push(err) })
    const { token } = await newSession(ctx)
    const headers = { authorization: `Token token=${token}` }
    await sleep(1100) // due
    const started = Date.now()
    t.equal((await service('/chat', { headers })).status, 200)
    t.ok(Date.now() - started < 2500, 'answered without waiting for the slide (whose time limit is 3 s)')
    t.ok(await eventually(6000, () => faults.length === 1), 'the slide timed out, and onFault was told')
    t.equal(calls, 1, `one call (got ${calls})`)
    for (let i = 0; i < 5; i++) t.equal((await service('/chat', { headers })).status, 200)
    t.equal(calls, 1, 'right after a failure, due requests do not call Gatehouse again')
  })
}

t.test('express: an answer sent by another middleware while Redis was slow does not crash the process', async (t) => {
  const redis = await startPrivateRedis(t)
  const ctx = await buildTestApp(t, { ...EDDSA, REDIS_URL: redis.url })
  const client = adminClient(ctx.config)
  t.teardown(() => client.disconnect())
  const { token } = await newSession(ctx)
  const app = express()
  // A request time-out middleware, as many services have: it answers first.
  app.use((_req, res, next) => {
    setTimeout(() => { if (!res.headersSent) res.status(503).json({ error: 'timeout' }) }, 50)
    next()
  })
  app.use(expressSessions({ reader: createSessionReader({ ...readerOptions(ctx), redis: client, timeoutMs: 300 }) }))
  app.get('/chat', (_req, res) => { res.json({ ok: true }) })
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const service = await serve(t, server)

  redis.freeze()
  t.match(await service('/chat', { headers: { authorization: `Token token=${token}` } }), { status: 503, body: { error: 'timeout' } })
  await sleep(400) // the reader's own answer comes after the time-out's: it must be dropped, not thrown
  redis.thaw()
  t.match(await service('/chat', { headers: { authorization: `Token token=${token}` } }), { status: 200 }, 'still serving')
})
