import fc from 'fast-check'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parseTokenHeader } from '@gatehouse/session-reader/credentials'
import { buildTestApp } from '../helpers/app.js'
import { claimsOf, newAdmin, newSession, PASSWORD } from '../helpers/http.js'
import { streamEvents } from '../helpers/redis.js'

// Generated inputs by the thousand (fast-check): whatever arrives, the answer is a JSON 2xx/4xx,
// never a 500, and never a session that was not earned with the right password.

const SERVICE = 'fuzz-test-service-credential-0123456789abcdef'
/** Seeds are printed on failure; runs are reproducible with FC_SEED. */
const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }

/** Characters a client can put in a header value: visible ASCII, space and tab. */
const headerChar = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), fc.constant('\t'))
const headerText = (maxLength: number) => fc.string({ unit: headerChar, maxLength })

function checkAnswer (t: Test, res: LightMyRequestResponse, what: string): boolean {
  const fine = res.statusCode < 500 && /^application\/json/.test(String(res.headers['content-type'] ?? 'application/json')) && !/at .*\.(ts|js):\d+/.test(res.body)
  if (!fine) t.fail(`${what}: ${res.statusCode} ${res.body.slice(0, 200)}`)
  return fine
}

t.test('parseTokenHeader: any string in, null or a non-empty part of it out, never a throw', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), headerText(300).map((s) => `Token ${s}`), headerText(300).map((s) => `Bearer ${s}`)), (header) => {
      const token = parseTokenHeader(header)
      return token === null || (token.length > 0 && header.includes(token))
    }),
    { numRuns: 5000, ...seed }
  )
  t.pass('5000 headers parsed')
})

t.test('Authorization headers: only 401 unless it is a genuine token of a live session', async (t) => {
  const ctx = await buildTestApp(t)
  const { token } = await newSession(ctx)
  const parts = token.split('.')
  const bytes = (jwt: string) => jwt.split('.').map((part) => Buffer.from(part, 'base64url').toString('hex')).join('.')

  // A real token with one character changed, cut short or extended, in every accepted form.
  const mutated = fc
    .tuple(fc.nat({ max: token.length - 1 }), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=" '), fc.constantFrom('flip', 'cut', 'extend'))
    .map(([at, c, how]) => (how === 'flip' ? token.slice(0, at) + c + token.slice(at + 1) : how === 'cut' ? token.slice(0, at) : token + c))
  const forms = (value: string) => fc.constantFrom(`Token token=${value}`, `Token token="${value}"`, `Token ${value}`, `Bearer ${value}`, `token TOKEN=${value}`, `Token token=${value}, device="ios"`)
  const header = fc.oneof(
    headerText(200),
    headerText(200).chain(forms),
    mutated.chain(forms),
    // Well-formed JWTs of our header and payload with a signature of someone else's making.
    fc.base64String({ minLength: 4, maxLength: 64 }).map((sig) => `Token token=${parts[0]}.${parts[1]}.${sig.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')}`)
  )

  let sessions = 0
  await fc.assert(
    fc.asyncProperty(header, async (authorization) => {
      const res = await ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization } })
      if (!checkAnswer(t, res, `Authorization: ${authorization}`)) return false
      if (res.statusCode === 200) {
        // Only the genuine token gets in. (base64url has spare bits in its last character, so a
        // different spelling of the very same bytes is the same token.)
        const sent = parseTokenHeader(authorization)!
        sessions++
        return sent === token || bytes(sent) === bytes(token)
      }
      return res.statusCode === 401 && ['missing_token', 'invalid_token', 'session_expired'].includes(res.json().error)
    }),
    { numRuns: 3000, ...seed }
  )
  t.ok(sessions < 3000, `${sessions} of 3000 were the genuine token (re-spelled), the rest 401`)
  t.equal((await ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Token token=${token}` } })).statusCode, 200, 'and 3000 bad headers did not harm the genuine session')
})

t.test('JSON bodies on every route that reads one: 2xx/4xx, never 500, never a session', async (t) => {
  // Account mail on (into files of the test's own), so that the reset and verification routes are there.
  const mailDir = await mkdtemp(join(tmpdir(), 'gatehouse-fuzz-mail-'))
  t.teardown(() => rm(mailDir, { recursive: true, force: true }))
  const ctx = await buildTestApp(t, { INTROSPECTION_TOKENS: SERVICE, MAIL_TRANSPORT: 'files', MAIL_DIR: mailDir })
  const { token, user, email } = await newSession(ctx)
  const admin = await newAdmin(ctx)
  // Its own user: a generated body with the right password deletes it, and only it.
  const deletable = await newSession(ctx)

  const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 80 }), fc.constant(email), fc.constant(PASSWORD))
  // Objects with the fields the routes know (and some they do not), holding anything.
  const shaped = fc.dictionary(
    fc.constantFrom('email', 'password', 'client', 'transport', 'current_password', 'new_password', 'token', 'extend', 'token_type_hint', 'ttl_seconds', 'role', 'sign_in', '__proto__', 'constructor', 'extra'),
    value,
    { maxKeys: 4 }
  )
  // RIGHT stands for the right credentials as they are when it is sent (a generated password
  // change may have changed them), so that sessions are earned, and revoked, along the way.
  const RIGHT = '<the right email and password>'
  const body = fc.oneof(shaped.map((o) => JSON.stringify(o)), fc.json({ maxDepth: 3 }), fc.string({ maxLength: 100 }), fc.constant(RIGHT))
  const route = fc.constantFrom<[InjectOptions['method'], string, string | undefined]>(
    ['POST', '/users', undefined],
    ['POST', '/sessions', undefined],
    ['PUT', '/me/password', `Token token=${token}`],
    ['POST', '/introspect', `Bearer ${SERVICE}`],
    ['PUT', '/admin/settings/session-ttl', `Token token=${admin.token}`],
    ['PUT', `/admin/users/${user.id}/role`, `Token token=${admin.token}`],
    ['DELETE', '/sessions/current', 'Token token=not-a-token'],
    ['POST', '/password-resets', undefined],
    ['POST', '/password-resets/confirm', undefined],
    ['POST', '/email-verifications', undefined],
    ['POST', '/email-verifications/confirm', undefined],
    ['DELETE', '/me', `Token token=${deletable.token}`]
  )

  // Every token the fuzzing earns, by session id; every session created shows in the event stream,
  // which revocations (a generated password or role change ends earlier logins) do not erase.
  const issued = new Set<string>()
  // A generated body may change the password (to another generated value, e.g. the email): from
  // then on that is the right password.
  let password = PASSWORD
  await fc.assert(
    fc.asyncProperty(route, body, async ([method, url, authorization], generated) => {
      const payload = generated === RIGHT ? JSON.stringify({ email, password }) : generated
      const res = await ctx.app.inject({ method, url, payload, headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) } })
      if (!checkAnswer(t, res, `${method} ${url} ${payload}`)) return false
      if (url === '/me/password' && res.statusCode === 204) password = JSON.parse(payload).new_password
      // No mailed token can be guessed: a confirm succeeds only with one from a mail, which the fuzzing never reads.
      if (url.endsWith('/confirm') && res.statusCode < 400) return false
      if (url === '/sessions' && res.statusCode === 201) {
        // Only the right email with the right password, sent as it is.
        const sent = JSON.parse(payload)
        const earned: unknown = res.json().token
        // (A cookie login cannot succeed here: no CORS_ORIGINS, so no page may ask for one.)
        if (typeof earned !== 'string') return false
        issued.add(String(claimsOf(earned).jti))
        return sent.email === email && sent.password === password
      }
      return true
    }),
    { numRuns: 3000, ...seed }
  )
  const created = (await streamEvents(ctx)).filter((e) => e.type === 'created' && e.user_id === user.id && e.session_id !== claimsOf(token).jti).map((e) => e.session_id)
  t.same(new Set(created), issued, `a session was created for each of the ${issued.size} tokens earned with the password, and for nothing else`)
  t.equal((await ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Token token=${admin.token}` } })).statusCode, 200, 'the admin\'s session, which nothing generated may end, still works')
})
