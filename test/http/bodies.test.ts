import type { InjectOptions } from 'fastify'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { buildTestApp } from '../helpers/app.js'
import { testConfig } from '../helpers/config.js'
import { adminClient, deleteKeys } from '../helpers/redis.js'
import { PASSWORD } from '../helpers/http.js'
import { exited, launch, listening, ownPrefix } from '../server-process.js'

t.test('every malformed request gets a JSON 4xx', async (t) => {
  const ctx = await buildTestApp(t)
  const json = { 'content-type': 'application/json' }
  const cases: Array<[string, InjectOptions, number, string]> = [
    ['oversized body', { method: 'POST', url: '/users', headers: json, payload: JSON.stringify({ email: ctx.email(), password: 'x'.repeat(20_000) }) }, 413, 'payload_too_large'],
    ['malformed JSON', { method: 'POST', url: '/sessions', headers: json, payload: '{"email": "a@b.c", ' }, 400, 'bad_request'],
    ['empty JSON body', { method: 'POST', url: '/sessions', headers: json, payload: '' }, 400, 'bad_request'],
    ['JSON null', { method: 'POST', url: '/sessions', headers: json, payload: 'null' }, 400, 'bad_request'],
    ['JSON string', { method: 'POST', url: '/users', headers: json, payload: '"hello"' }, 400, 'bad_request'],
    ['prototype pollution', { method: 'POST', url: '/users', headers: json, payload: `{"email":"${ctx.email()}","password":"${PASSWORD}","__proto__":{"admin":true}}` }, 400, 'bad_request'],
    ['text/plain', { method: 'POST', url: '/sessions', headers: { 'content-type': 'text/plain' }, payload: 'email=a&password=b' }, 415, 'unsupported_media_type'],
    ['form-encoded', { method: 'POST', url: '/users', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'email=a%40b.c&password=12345678' }, 415, 'unsupported_media_type'],
    ['no body at all', { method: 'POST', url: '/sessions' }, 400, 'bad_request'],
    ['unknown route', { method: 'GET', url: '/admin' }, 404, 'not_found'],
    ['unknown method on a route', { method: 'PATCH', url: '/me' }, 405, 'method_not_allowed'],
  ]
  for (const [name, request, status, error] of cases) {
    const res = await ctx.app.inject(request)
    t.equal(res.statusCode, status, name)
    t.match(res.headers['content-type'], /^application\/json/, `${name}: JSON`)
    t.equal(res.json().error, error, `${name}: ${error}`)
    t.type(res.json().message, 'string', `${name}: has a message`)
    t.notMatch(res.body, /at .*\.(ts|js):\d+/, `${name}: no stack trace`)
  }
})

t.test('a body over the limit gets a 413 the client can read, even while it is still sending', async (t) => {
  // The real server in its own process, over real HTTP: answering and closing while the client
  // still sent gave Node's fetch EPIPE (about one request in seven with 5 MB), not the 413.
  const started = launch('node', ['dist/server.js'], { REDIS_KEY_PREFIX: ownPrefix(t) })
  t.teardown(() => exited(started, 5000))
  t.teardown(() => started.proc.kill('SIGINT'))
  const url = `${await listening(started, 20_000)}/sessions`
  const big = JSON.stringify({ email: 'someone@example.com', password: 'x'.repeat(5 * 1024 * 1024) })
  const answers: Array<string | number> = []
  for (let i = 0; i < 30; i++) {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big })
      answers.push(res.status === 413 && ((await res.json()) as { error: string }).error === 'payload_too_large' ? 413 : res.status)
    } catch (err) {
      answers.push(String((err as { cause?: { code?: string } }).cause?.code ?? err))
    }
  }
  t.same(answers, Array(30).fill(413), '30 times 5 MB with a Content-Length: always a JSON 413')

  // Without a Content-Length (chunked), the limit is found while reading.
  const chunks = function * () {
    for (let i = 0; i < 80; i++) yield new TextEncoder().encode('x'.repeat(64 * 1024))
  }
  const streamed = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ReadableStream.from(chunks()), duplex: 'half' } as RequestInit)
  t.equal(streamed.status, 413, '5 MB chunked: 413')
  t.equal(((await streamed.json()) as { error: string }).error, 'payload_too_large')
})

t.test('health and readiness', async (t) => {
  const ctx = await buildTestApp(t)
  const health = await ctx.app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })
  const ready = await ctx.app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', checks: { redis: 'ok', postgres: 'ok' } })
})

t.test('not ready: 503 not_ready, byte for byte, with Retry-After', async (t) => {
  // Redis up, a Postgres port where nothing listens.
  const ctx = await buildTestApp(t, { DATABASE_URL: 'postgresql://postgres:postgres@127.0.0.1:1/gatehouse_test' })
  const down = await ctx.app.inject({ method: 'GET', url: '/ready' })
  t.equal(down.statusCode, 503)
  t.equal(down.headers['retry-after'], '5')
  t.equal(down.body, '{"error":"not_ready","message":"Not ready: postgres unavailable","checks":{"redis":"ok","postgres":"down"}}')
  ctx.app.beginDraining()
  const draining = await ctx.app.inject({ method: 'GET', url: '/ready' })
  t.equal(draining.statusCode, 503)
  t.equal(draining.headers['retry-after'], '5')
  t.equal(draining.body, '{"error":"not_ready","message":"Shutting down: finishing the requests in flight"}')
})

t.test('CORS is off unless origins are configured, and then only for them', async (t) => {
  const off = await buildTestApp(t)
  const preflight = (origin: string) =>
    ({ method: 'OPTIONS', url: '/sessions', headers: { origin, 'access-control-request-method': 'POST' } }) as const
  t.notOk((await off.app.inject(preflight('https://app.example.com'))).headers['access-control-allow-origin'])

  const on = await buildTestApp(t, { CORS_ORIGINS: 'https://app.example.com' })
  t.equal((await on.app.inject(preflight('https://app.example.com'))).headers['access-control-allow-origin'], 'https://app.example.com')
  t.notOk((await on.app.inject(preflight('https://evil.example.com'))).headers['access-control-allow-origin'])
})

t.test('an unexpected error is a bare 500: no message, no stack, a request id to quote', async (t) => {
  const config = testConfig()
  const app = await buildApp(config, { logger: false })
  t.teardown(async () => {
    await app.close()
    const redis = adminClient(config)
    await deleteKeys(redis, config.redisKeyPrefix) // every start writes <prefix>config
    redis.disconnect()
  })
  // A route that fails the way a bug would, added before the app starts.
  app.get('/boom', async () => {
    throw new Error('connection string postgres://user:hunter2@db')
  })
  const res = await app.inject({ method: 'GET', url: '/boom' })
  t.equal(res.statusCode, 500)
  t.same(Object.keys(res.json()).sort(), ['error', 'message'])
  t.equal(res.json().error, 'internal_error')
  t.match(res.json().message, /^Internal server error \(request .+\)$/)
  t.notMatch(res.body, /hunter2|at .*\.(ts|js):\d+/)
})
