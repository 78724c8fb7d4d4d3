import { request as httpRequest } from 'node:http'
import t from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { call, PASSWORD, signUp } from '../helpers/http.js'
import { indexed, scanKeys, sessionKeyOf } from '../helpers/redis.js'

// The device label (body `client`, or the X-Client header) is cosmetic: whatever an app sends is
// taken, trimmed and cut to 64 code points; only control characters are refused (400, no session).

/** A label sent in a header as UTF-8, as Node hands it to Fastify: one latin1 character per byte. */
const onTheWire = (label: string) => Buffer.from(label, 'utf8').toString('latin1')

/** A label as a test name: invisible and line-breaking characters written as \\uXXXX (a raw U+2028 would break TAP's lines). */
const shown = (label: string) => `"${label.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`)}"`

/** What apps really send, as the issue found them. */
const REAL_WORLD = [
  'MyApp 1.2.3+45 (Android 14, Pixel 8)',
  'Galaxy S24+',
  'Café, iPhone 15 Pro',
  '📱 Mei’s phone',
  '👨‍👩‍👧 Family iPad',
  '小米 14 Ultra',
  'Телефон Маши; "work" <Android>',
  'ios',
]

/** Labels with a control character or line break somewhere, each a 400. */
const CONTROLS = ['ios\u0000', 'a\nb', 'a\tb', 'a\rb', 'del\u007f', 'c1 \u0085 next line', 'csi \u009b', 'line\u2028separator']

async function newUser (ctx: TestContext) {
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  return { email, user }
}

const loginWith = (ctx: TestContext, email: string, { client, header }: { client?: string, header?: string }) =>
  ctx.app.inject({
    method: 'POST',
    url: '/sessions',
    headers: header === undefined ? {} : { 'x-client': header },
    payload: { email, password: PASSWORD, ...(client === undefined ? {} : { client }) },
  })

/** The label GET /sessions shows for the token's own session, and the one stored in its Redis hash. */
async function labelsOf (ctx: TestContext, token: string) {
  const sessions = (await call(ctx.app, 'GET', '/sessions', token)).json().sessions as Array<{ current: boolean, client: string }>
  return { listed: sessions.find((s) => s.current)?.client, stored: await ctx.redis.hget(sessionKeyOf(ctx, token), 'client') }
}

t.test('real-world labels log in, as the body field and as the header, and are listed as sent', async (t) => {
  const ctx = await buildTestApp(t)
  const { email } = await newUser(ctx)
  for (const label of REAL_WORLD) {
    for (const [how, sent] of [['body/client', { client: label }], ['X-Client', { header: onTheWire(label) }]] as const) {
      const res = await loginWith(ctx, email, sent)
      t.equal(res.statusCode, 201, `${how}: ${label}`)
      const { token } = res.json()
      t.same(await labelsOf(ctx, token), { listed: label, stored: label }, `${how}: listed and stored as sent`)
      await call(ctx.app, 'DELETE', '/sessions/current', token)
    }
  }
})

t.test('a long label is cut to 64 code points, never refused, and never inside a surrogate pair', async (t) => {
  const ctx = await buildTestApp(t)
  const { email } = await newUser(ctx)
  const cases: Array<[string, string, string]> = [
    ['300 ASCII characters', 'A'.repeat(300), 'A'.repeat(64)],
    ['300 emoji (600 UTF-16 units)', '😀'.repeat(300), '😀'.repeat(64)],
    // 63 + 2 code points but 67 UTF-16 units: a slice(0, 64) would leave half of the first emoji.
    ['the 64th code point is an emoji', `${'x'.repeat(63)}😀😀`, `${'x'.repeat(63)}😀`],
    ['a cut that ends on spaces is trimmed', `abc${' '.repeat(61)}def`, 'abc'],
    ['the issue\'s label, made long', `MyApp 1.2.3+45 (Android 14, Pixel 8) ${'build info, '.repeat(20)}`, `MyApp 1.2.3+45 (Android 14, Pixel 8) ${'build info, '.repeat(20)}`.slice(0, 64)],
  ]
  for (const [name, label, kept] of cases) {
    for (const [how, sent] of [['body/client', { client: label }], ['X-Client', { header: onTheWire(label) }]] as const) {
      const res = await loginWith(ctx, email, sent)
      t.equal(res.statusCode, 201, `${how}: ${name}`)
      const { listed, stored } = await labelsOf(ctx, res.json().token)
      t.equal(listed, kept, `${how}: ${name}`)
      t.equal(stored, kept, 'stored as listed')
      t.ok(Array.from(listed!).length <= 64, 'at most 64 code points')
      t.notMatch(listed!, /[\ud800-\udfff]/u, 'no lone surrogate')
      await call(ctx.app, 'DELETE', '/sessions/current', res.json().token)
    }
  }
})

t.test('surrounding whitespace is trimmed, and a label of nothing but whitespace is no label', async (t) => {
  const ctx = await buildTestApp(t)
  const { email } = await newUser(ctx)
  const cases: Array<[string, string]> = [['  ios 17  ', 'ios 17'], ['\n\tweb\r\n', 'web'], ['   ', ''], ['', ''], ['\u3000\u00a0', '']]
  for (const [label, kept] of cases) {
    const res = await loginWith(ctx, email, { client: label })
    t.equal(res.statusCode, 201, shown(label))
    t.same(await labelsOf(ctx, res.json().token), { listed: kept, stored: kept }, `${shown(label)} is ${shown(kept)}`)
  }
})

t.test('bidi overrides and isolates are removed (they would reverse the list\'s text); joiners stay', async (t) => {
  const ctx = await buildTestApp(t)
  const { email } = await newUser(ctx)
  const cases: Array<[string, string]> = [
    ['Mei\u202Egnp.exe', 'Meignp.exe'],
    ['\u2066ios\u2069 \u2067web\u2069 \u2068x\u2069', 'ios web x'],
    ['\u202Aa\u202Bb\u202Cc\u202Dd\u200Ee\u200Ff\u061C', 'abcdef'],
    ['\u202E', ''],
    ['👨‍👩‍👧 and نیم‌فاصله', '👨‍👩‍👧 and نیم‌فاصله'],
  ]
  for (const [label, kept] of cases) {
    for (const [how, sent] of [['body/client', { client: label }], ['X-Client', { header: onTheWire(label) }]] as const) {
      const res = await loginWith(ctx, email, sent)
      t.equal(res.statusCode, 201, `${how}: ${shown(label)}`)
      t.same(await labelsOf(ctx, res.json().token), { listed: kept, stored: kept }, `${how}: ${shown(label)} is ${shown(kept)}`)
    }
  }
})

t.test('a control character or line break: 400 naming the field or header, and no session', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, user } = await newUser(ctx)
  for (const label of CONTROLS) {
    for (const [where, sent] of [['body/client', { client: label }], ['headers/x-client', { header: onTheWire(label) }]] as const) {
      const res = await loginWith(ctx, email, sent)
      t.equal(res.statusCode, 400, `${where}: ${shown(label)}`)
      t.equal(res.json().error, 'bad_request')
      t.match(res.json().message, `${where} must not contain control characters`)
    }
  }
  // Refused even when the body's label, which would win, is fine: the header would be refused alone.
  const both = await loginWith(ctx, email, { client: 'ios', header: 'a\u0001b' })
  t.equal(both.statusCode, 400, 'a bad header beside a good body label')
  t.same(await indexed(ctx, user.id), [], 'no session was created')
  // Checked before the password: none of these counted as a failed login.
  t.same((await scanKeys(ctx.redis, ctx.config.redisKeyPrefix)).filter((key) => key.includes(':throttle:login_')), [], 'no login failure was counted')
})

t.test('a lone surrogate in the JSON body is stored as U+FFFD, never a 500', async (t) => {
  const ctx = await buildTestApp(t)
  const { email } = await newUser(ctx)
  const cases: Array<[string, string]> = [
    ['x\\ud800y', 'x\ufffdy'],
    ['\\udc00', '\ufffd'],
    // A high half as the 64th code point: kept as one U+FFFD, not half a pair.
    [`${'x'.repeat(63)}\\ud83d${'y'.repeat(10)}`, `${'x'.repeat(63)}\ufffd`],
  ]
  for (const [escaped, kept] of cases) {
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/sessions',
      headers: { 'content-type': 'application/json' },
      payload: `{"email": ${JSON.stringify(email)}, "password": ${JSON.stringify(PASSWORD)}, "client": "${escaped}"}`,
    })
    t.equal(res.statusCode, 201, escaped)
    t.same(await labelsOf(ctx, res.json().token), { listed: kept, stored: kept }, `${escaped} is stored well-formed`)
  }
})

t.test('the body\'s label wins over the header, under the same rule', async (t) => {
  const ctx = await buildTestApp(t)
  const { email } = await newUser(ctx)
  const res = await loginWith(ctx, email, { client: '  Galaxy S24+  ', header: onTheWire('MyApp 1.2.3+45 (Android 14, Pixel 8)') })
  t.equal(res.statusCode, 201)
  t.equal((await labelsOf(ctx, res.json().token)).listed, 'Galaxy S24+')
  const empty = await loginWith(ctx, email, { client: '', header: 'web' })
  t.equal((await labelsOf(ctx, empty.json().token)).listed, '', 'an empty body label is still the body\'s')
})

t.test('POST /users with sign_in: the same rule for the header and the body field', async (t) => {
  const ctx = await buildTestApp(t)
  const signUpWith = (email: string, payload: object, headers: Record<string, string> = {}) =>
    ctx.app.inject({ method: 'POST', url: '/users', headers, payload: { email, password: PASSWORD, ...payload } })

  for (const [how, payload, headers] of [
    ['body/client', { client: `Galaxy S24+ ${'x'.repeat(100)}` }, {}],
    ['X-Client', {}, { 'x-client': onTheWire(`Galaxy S24+ ${'x'.repeat(100)}`) }],
  ] as const) {
    const res = await signUpWith(ctx.email(), { sign_in: true, ...payload }, headers)
    t.equal(res.statusCode, 201, how)
    t.equal((await labelsOf(ctx, res.json().token)).listed, `Galaxy S24+ ${'x'.repeat(100)}`.slice(0, 64), `${how}: cut to 64`)
  }

  for (const [where, payload, headers] of [
    ['body/client', { client: 'ios\n' + 'x' }, {}],
    ['headers/x-client', {}, { 'x-client': 'ios\u0085' }],
  ] as const) {
    const email = ctx.email()
    const res = await signUpWith(email, { sign_in: true, ...payload }, headers)
    t.equal(res.statusCode, 400, where)
    t.match(res.json(), { error: 'bad_request', message: `${where} must not contain control characters` })
    t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 401, 'and no account was left behind')
  }

  const plain = await signUpWith(ctx.email(), { client: 'ios\u0000' }, { 'x-client': 'a\u0001b' })
  t.equal(plain.statusCode, 201, 'a plain sign-up ignores both, as it always ignored the header')
})

/** A login over a real socket, the header given as the latin1 string whose bytes go on the wire. */
function loginOverHttp (port: number, email: string, xClient: string): Promise<{ status: number, body: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ email, password: PASSWORD })
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/sessions', headers: { 'content-type': 'application/json', 'x-client': xClient } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    // A Buffer body: Node writes a string body in one go with the header, encoding both as UTF-8,
    // which would turn the latin1 string back into other bytes than the label's UTF-8.
    req.end(Buffer.from(body))
  })
}

t.test('over real HTTP: X-Client as raw UTF-8 bytes is read as UTF-8, raw latin1 as latin1', async (t) => {
  const ctx = await buildTestApp(t)
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }
  const { email, user } = await newUser(ctx)

  for (const label of ['Café, iPhone 15 Pro', '📱 小米 14 Ultra', 'MyApp 1.2.3+45 (Android 14, Pixel 8)']) {
    // Node's client writes header strings as latin1, one byte per character: these are the label's UTF-8 bytes.
    const res = await loginOverHttp(port, email, onTheWire(label))
    t.equal(res.status, 201, label)
    t.same(await labelsOf(ctx, res.body.token!), { listed: label, stored: label }, `${label}: not mojibake`)
  }

  // Byte 0xE9 alone is not UTF-8: an older client meant latin1 é.
  const latin1 = await loginOverHttp(port, email, 'Caf\u00e9')
  t.equal(latin1.status, 201)
  t.equal((await labelsOf(ctx, latin1.body.token!)).listed, 'Café')

  // Byte 0x85 alone is not UTF-8 either, and as latin1 it is a C1 control (NEL): refused.
  const before = (await indexed(ctx, user.id)).length
  const c1 = await loginOverHttp(port, email, 'ios\u0085')
  t.equal(c1.status, 400)
  t.match(c1.body, { error: 'bad_request', message: 'headers/x-client must not contain control characters' })
  t.equal((await indexed(ctx, user.id)).length, before, 'no session')
})

t.test('OpenAPI describes the cut, with no maxLength or pattern that would refuse', async (t) => {
  const ctx = await buildTestApp(t)
  const spec = (await ctx.app.inject({ method: 'GET', url: '/docs/json' })).json()
  for (const path of ['/sessions', '/users']) {
    const { requestBody, parameters } = spec.paths[path].post
    const header = parameters.find((p: { in: string, name: string }) => p.in === 'header' && p.name === 'x-client')
    for (const [where, schema, description] of [
      [`POST ${path} body client`, requestBody.content['application/json'].schema.properties.client, undefined],
      [`POST ${path} X-Client`, header.schema, header.description],
    ]) {
      t.equal(schema.type, 'string', where)
      t.equal(schema.maxLength, undefined, `${where}: no maxLength`)
      t.equal(schema.pattern, undefined, `${where}: no pattern`)
      t.match(description ?? schema.description, /cut, not refused, to its first 64 Unicode code points/, `${where}: the cut is described`)
    }
  }
})
