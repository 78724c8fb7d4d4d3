import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { validate } from '@readme/openapi-parser'
import { Ajv2020 } from 'ajv/dist/2020.js'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { responseChecker } from '../helpers/openapi.js'
import { call, newAdmin, signUp } from '../helpers/http.js'

// The OpenAPI document is what Swift and Kotlin clients are generated from: it must pass
// Redocly's recommended lint, declare every status each operation can answer with a typed error,
// and agree with the server on every rule it states. (That every answer the suite gets matches it
// is checked for every test, by test/helpers/openapi.ts.)

type Operation = { security?: object[], responses: Record<string, { headers?: Record<string, { $ref: string }>, content?: Record<string, { schema: { properties?: { error?: { enum?: string[] } } } }> }> }

/** Every optional route served: introspection, account mail (a server never called), the console. */
const EVERYTHING = { INTROSPECTION_TOKENS: 'openapi-test-service-credential-0123456789abcdef', SMTP_URL: 'smtp://127.0.0.1:9', CONSOLE_ENABLED: 'true' }

async function documentOf (t: Test) {
  const ctx = await buildTestApp(t, EVERYTHING)
  const res = await ctx.app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const served = res.json() as { paths: Record<string, Record<string, Operation>>, components: { headers: Record<string, object>, responses: Record<string, unknown> } }
  return { ctx, served, doc: resolved(structuredClone(served)) }
}

const operationsOf = (doc: { paths: Record<string, Record<string, Operation>> }) =>
  Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, method, path, op })))

/** The document, with each shared response (components.responses) put back where it is referenced. */
function resolved<T extends { paths: Record<string, Record<string, Operation>>, components: { responses?: Record<string, unknown> } }> (doc: T): T {
  for (const op of Object.values(doc.paths).flatMap((ops) => Object.values(ops))) {
    for (const [status, response] of Object.entries(op.responses)) {
      const ref = (response as { $ref?: string }).$ref
      if (ref) op.responses[status] = doc.components.responses![ref.split('/').pop()!] as never
    }
  }
  return doc
}

const errorsOf = (op: Operation, status: string) => op.responses[status]?.content?.['application/json']?.schema.properties?.error?.enum ?? []

t.test('Redocly\'s recommended lint passes with no errors, and @readme/openapi-parser validates the document', async (t) => {
  const { served: doc } = await documentOf(t)
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-openapi-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'openapi.json')
  await writeFile(file, JSON.stringify(doc))
  const { stdout } = await promisify(execFile)('node_modules/.bin/redocly', ['lint', file, '--config', 'redocly.yaml', '--format', 'json'], { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } })
    .catch((err: { stdout: string }) => ({ stdout: err.stdout }))
  const report = JSON.parse(stdout) as { totals: { errors: number, warnings: number }, problems: Array<{ ruleId: string, severity: string, message: string }> }
  t.same(report.problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId}: ${p.message}`), [], 'no lint errors')
  t.equal(report.totals.errors, 0)
  await t.resolves(validate(structuredClone(doc) as never), '@readme/openapi-parser validates it')
})

t.test('every operation declares each status it can answer, with a typed error and its headers', async (t) => {
  const { doc } = await documentOf(t)
  const operations = operationsOf(doc)
  t.ok(operations.length >= 30, `${operations.length} operations`)
  const noDependency = new Set(['GET /health', 'GET /.well-known/jwks.json'])
  for (const { name, method, op } of operations) {
    const statuses = Object.keys(op.responses)
    t.notOk(statuses.some((s) => /XX$|default/.test(s)), `${name}: no catch-all ranges`)
    t.ok(statuses.some((s) => s.startsWith('2')), `${name}: its success`)
    for (const [status, response] of Object.entries(op.responses)) {
      t.same(response.headers?.['X-Request-Id'], { $ref: '#/components/headers/X-Request-Id' }, `${name} ${status}: X-Request-Id`)
      if (status === '401') t.ok(response.headers?.['WWW-Authenticate'], `${name} 401: WWW-Authenticate`)
      if (status === '429' || status === '503') t.ok(response.headers?.['Retry-After'], `${name} ${status}: Retry-After`)
      if (/^[45]/.test(status) && name !== 'GET /ready') t.ok(errorsOf(op, status).length > 0, `${name} ${status}: an enum of error codes`)
    }
    if (['post', 'put', 'delete'].includes(method)) {
      t.same(errorsOf(op, '413'), ['payload_too_large'], `${name}: 413`)
      t.same(errorsOf(op, '415'), ['unsupported_media_type'], `${name}: 415`)
      t.ok(errorsOf(op, '400').includes('bad_request'), `${name}: 400`)
    }
    const authenticated = (op.security ?? []).some((s) => 'sessionToken' in s)
    if (authenticated) {
      const unauthenticated = errorsOf(op, '401')
      t.ok(['invalid_token', 'missing_token', 'session_expired'].every((code) => unauthenticated.includes(code)), `${name}: 401 says which`)
      t.same(op.security, [{ sessionToken: [] }, method === 'get' ? { sessionCookie: [] } : { sessionCookie: [], csrfToken: [] }], `${name}: the token, or the cookie (and CSRF header on a change)`)
    }
    if (!noDependency.has(name)) t.ok(op.responses['503'], `${name}: 503 when Redis or PostgreSQL is down`)
  }
  const events = doc.paths['/admin/events']!.get!
  t.ok(events.responses['200']!.content!['text/event-stream'], 'GET /admin/events: 200 text/event-stream')
  t.same(errorsOf(events, '403'), ['forbidden'], 'admins only')
  t.same(errorsOf(doc.paths['/sessions']!.post!, '401'), ['invalid_credentials'])
  t.same(errorsOf(doc.paths['/sessions']!.post!, '429'), ['too_many_requests'])
  t.same(errorsOf(doc.paths['/users']!.post!, '409'), ['email_taken'])
  t.same(Object.keys(doc.components.headers).sort(), ['Cache-Control', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'WWW-Authenticate', 'X-Request-Id'])
  for (const { name, op } of operations) {
    const limited = op.responses['429'] !== undefined
    for (const [status, response] of Object.entries(op.responses)) {
      t.equal(response.headers?.RateLimit !== undefined && response.headers?.['RateLimit-Policy'] !== undefined, limited, `${name} ${status}: the RateLimit fields ${limited ? '' : 'not '}declared`)
    }
  }
  t.ok(doc.paths['/sessions']!.post!.responses['429'], 'the login is limited')

  // Inputs read outside a route schema are declared too.
  const docOf = doc as unknown as { paths: Record<string, Record<string, { parameters?: object[], requestBody?: { content: Record<string, unknown> } }>>, components: { parameters: Record<string, { name: string, in: string }> } }
  t.match(docOf.components.parameters.audience, { name: 'jwt-aud', in: 'header' }, 'the audience header (JWT_AUD_HEADER)')
  for (const [path, method] of [['/sessions', 'post'], ['/users', 'post'], ['/me', 'get'], ['/sessions/{id}', 'delete'], ['/admin/events', 'get']] as const) {
    t.same(docOf.paths[path]![method]!.parameters?.filter((p) => '$ref' in p), [{ $ref: '#/components/parameters/audience' }], `${method.toUpperCase()} ${path} reads it`)
  }
  t.notOk(docOf.paths['/health']!.get!.parameters, 'GET /health does not')
  t.same(Object.keys(docOf.paths['/introspect']!.post!.requestBody!.content), ['application/x-www-form-urlencoded', 'application/json'], 'POST /introspect takes a form (RFC 7662) or JSON')
})

t.test('the document and the server agree on the rules it states', async (t) => {
  const { ctx, doc } = await documentOf(t)
  const ajv = new Ajv2020({ strict: false })
  const bodySchema = (path: string, method: string) => (doc.paths[path]![method] as unknown as { requestBody: { content: { 'application/json': { schema: { properties: Record<string, object> } } } } }).requestBody.content['application/json'].schema

  // One email rule: the document's pattern is the server's.
  const email = ajv.compile(bodySchema('/users', 'post').properties.email!)
  for (const [address, ok] of [['0@com', false], ['a@b', false], ['user@example.com', true], ['a..b@example.com', false]] as const) {
    t.equal(email(address), ok, `the document says ${address} is ${ok ? 'an' : 'not an'} email`)
    const res = await ctx.app.inject({ method: 'POST', url: '/users', payload: { email: address.replace('example.com', ctx.email().split('@')[1]!), password: 'correct horse battery' } })
    t.equal(res.statusCode, ok ? 201 : 400, `and so does the server (${res.statusCode})`)
  }

  // One password rule: 72 bytes. 40 é are 40 characters (the schema's bound) but 80 bytes.
  const password = ajv.compile(bodySchema('/users', 'post').properties.password!)
  t.ok(password('é'.repeat(40)), 'the schema cannot count bytes: 40 characters pass it')
  t.match((bodySchema('/users', 'post').properties.password as { description: string }).description, /72 bytes in UTF-8/, 'so its description states the rule')
  const tooLong = await ctx.app.inject({ method: 'POST', url: '/users', payload: { email: ctx.email(), password: 'é'.repeat(40) } })
  t.equal(tooLong.statusCode, 400)
  t.match(tooLong.json().message, /at most 72 bytes in UTF-8, and this one is 80: letters with accents take 2 bytes .* a password of 40 characters can be too long/, 'the message explains a multi-byte password')
  const justFits = await ctx.app.inject({ method: 'POST', url: '/users', payload: { email: ctx.email(), password: 'é'.repeat(36) } })
  t.equal(justFits.statusCode, 201, '72 bytes exactly is taken')

  // The TTL's maximum is SESSION_MAX_AGE_SECONDS, in the document and on the server.
  const max = ctx.config.sessionMaxAgeSeconds
  const ttl = bodySchema('/admin/settings/session-ttl', 'put').properties.ttl_seconds as { maximum: number }
  t.equal(ttl.maximum, max, 'the document states the maximum')
  const admin = await newAdmin(ctx)
  const over = await call(ctx.app, 'PUT', '/admin/settings/session-ttl', admin.token, { ttl_seconds: max + 1 })
  t.equal(over.statusCode, 400)
  t.same(over.json(), { error: 'bad_request', message: 'body/ttl_seconds must not exceed the absolute session lifetime, SESSION_MAX_AGE_SECONDS (30d (2592000 s))' })
  t.equal(max, 2_592_000)
  const policy = await call(ctx.app, 'PUT', '/admin/settings/clients/ios', admin.token, { idle_timeout_seconds: 60, max_age_seconds: max + 1 })
  t.equal(policy.statusCode, 400, 'a client\'s maximum age too')
  t.equal((bodySchema('/admin/settings/clients/{client}', 'put').properties.max_age_seconds as { maximum: number }).maximum, max)
})

t.test('the response check fails an answer the document does not describe', async (t) => {
  const ctx = await buildTestApp(t)
  await signUp(ctx.app, ctx.email())
  const problemsOf = responseChecker(ctx.app)
  const headers: Record<string, string> = { 'x-request-id': 'r1', 'content-type': 'application/json; charset=utf-8' }
  const reply = (statusCode: number, more: Record<string, string> = {}) => ({ statusCode, getHeader: (name: string) => ({ ...headers, ...more })[name] }) as never
  const me = { method: 'GET', routeOptions: { url: '/me', schema: {} } } as never
  t.same(problemsOf(me, reply(200), JSON.stringify({ user: { id: '5f0c6a53-5a0e-4f3b-9d57-0c6c7e1b2a11', email: 'a@b.co', role: 'user', created_at: '2026-01-01T00:00:00.000Z', email_verified_at: null, createdAt: '2026-01-01T00:00:00.000Z', emailVerifiedAt: null } })), [], 'a documented answer passes')
  t.match(problemsOf(me, reply(418), '{}'), [/status 418 is not declared/], 'an undeclared status')
  t.match(problemsOf(me, reply(200), JSON.stringify({ user: { id: 'x' } })), [/does not match/], 'a body outside its schema')
  t.match(problemsOf(me, reply(401), JSON.stringify({ error: 'nope', message: 'x' })), [/no WWW-Authenticate header/, /does not match/], 'an unknown code, and a 401 without its challenge')
  t.match(problemsOf(me, reply(200, { 'content-type': 'text/html' }), '<p>'), [/media type text\/html is not declared/])
  t.match(problemsOf({ method: 'GET', routeOptions: { url: '/nowhere', schema: {} } } as never, reply(200), '{}'), [/not in the document/], 'a route the document leaves out')
  t.match(problemsOf({ method: 'GET', routeOptions: { schema: {} } } as never, reply(404), '{"statusCode":404}'), [/not the error shape/], 'no route: still the error shape')
})

t.test('an error response many operations share is written once', async (t) => {
  const { served } = await documentOf(t)
  const shared = served.components.responses
  t.ok(shared['401-invalid_token-missing_token-session_expired'], 'the session check\'s 401')
  t.same(served.paths['/me']!.get!.responses['401'], { $ref: '#/components/responses/401-invalid_token-missing_token-session_expired' })
  t.same(served.paths['/sessions']!.get!.responses['401'], served.paths['/me']!.get!.responses['401'])
  const texts = Object.values(shared).map((response) => JSON.stringify(response))
  t.equal(new Set(texts).size, texts.length, 'no two shared responses alike')
  // About 83 KB with the console's user list, sessions now and event history (no route above 10 KB):
  // an error response written into each operation again would take it well past this.
  t.ok(JSON.stringify(served).length < 90_000, `the document is ${JSON.stringify(served).length} bytes`)
})
