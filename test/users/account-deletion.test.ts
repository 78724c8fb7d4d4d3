import { randomBytes } from 'node:crypto'
import type { FastifyInstance, InjectOptions } from 'fastify'
import t, { type Test } from 'tap'
import { addSessions, buildTestApp, storeOf, type TestContext } from '../helpers/app.js'
import { sql } from '../helpers/db.js'
import { call, claimsOf, login, me, newAdmin, newSession, PASSWORD, signUp } from '../helpers/http.js'
import { keysOf, scanKeys, streamEvents } from '../helpers/redis.js'
import { eventually } from '../helpers/wait.js'

// DELETE /me (in-app deletion, App Store guideline 5.1.1(v)) and DELETE /admin/users/:id: the
// account, its mailed tokens and its sessions go, and consumers of the event stream are told.

const deleteMe = (app: FastifyInstance, token: string, payload?: object) => call(app, 'DELETE', '/me', token, payload)

async function userExists (id: string): Promise<boolean> {
  return (await sql('SELECT 1 FROM users WHERE id = $1', [id])).length === 1
}

/** A live password-reset token row for the user, written as the mail flow would (hash only). */
async function insertAccountToken (userId: string): Promise<void> {
  await sql('INSERT INTO account_tokens (hash, user_id, purpose, expires_at) VALUES ($1, $2, \'password_reset\', now() + interval \'1 hour\')', [randomBytes(32).toString('base64url'), userId])
}

async function accountTokenCount (userId: string): Promise<number> {
  return Number((await sql<{ n: string }>('SELECT count(*) AS n FROM account_tokens WHERE user_id = $1', [userId]))[0]!.n)
}

/** The stream's events about one user, in stream order. */
async function eventsOf (ctx: TestContext, userId: string) {
  return (await streamEvents(ctx)).filter((e) => e.user_id === userId)
}

/** Every Redis key that names the user (all of them carry `{<user_id>}` as their hash tag). */
const userKeys = (ctx: TestContext, userId: string) => scanKeys(ctx.redis, `${ctx.config.redisKeyPrefix}*{${userId}}`)

/** A user with `count` sessions, each from a real login; the first token is the one that asks. */
async function userWithLogins (ctx: TestContext, count: number) {
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  const tokens: string[] = []
  for (let i = 0; i < count; i++) tokens.push((await login(ctx.app, email)).token)
  return { user, email, tokens }
}

/** Nothing was deleted: the row, the session and the password all still work. */
async function stillWorks (t: Test, ctx: TestContext, account: { user: { id: string }, email: string, token: string }) {
  t.ok(await userExists(account.user.id), 'the users row is still there')
  t.equal((await me(ctx.app, `Token token=${account.token}`)).statusCode, 200, 'the session still works')
  await login(ctx.app, account.email)
}

t.test('DELETE /me', async (t) => {
  const ctx = await buildTestApp(t)

  t.test('the right password: 204; the row, its mailed tokens, every session and every session key go; the stream says so', async (t) => {
    const { user, email, tokens } = await userWithLogins(ctx, 3)
    await insertAccountToken(user.id)
    t.equal(await accountTokenCount(user.id), 1, 'a mailed token exists before')

    const res = await deleteMe(ctx.app, tokens[0]!, { password: PASSWORD })
    t.equal(res.statusCode, 204)
    t.equal(res.body, '')

    for (const token of tokens) {
      const after = await me(ctx.app, `Token token=${token}`)
      t.equal(after.statusCode, 401)
      t.equal(after.json().error, 'session_expired', 'the code that means "show the login screen"')
    }
    const relogin = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })
    t.equal(relogin.statusCode, 401)
    t.equal(relogin.json().error, 'invalid_credentials')
    t.notOk(await userExists(user.id), 'the users row is gone')
    t.equal(await accountTokenCount(user.id), 0, 'its mailed tokens went with it')

    const events = await eventsOf(ctx, user.id)
    const revoked = events.filter((e) => e.type === 'revoked')
    t.same(revoked.map((e) => e.session_id).sort(), tokens.map((token) => String(claimsOf(token).jti)).sort(), 'one revoked event per session')
    t.ok(revoked.every((e) => e.reason === 'account-deleted'), 'each with the reason account-deleted')
    const deleted = events.filter((e) => e.type === 'user-deleted')
    t.equal(deleted.length, 1, 'exactly one user-deleted event')
    t.match(deleted[0], { type: 'user-deleted', reason: 'self', session_id: '', user_id: user.id, v: '1' })
    t.ok(events.indexOf(deleted[0]!) > events.lastIndexOf(revoked.at(-1)!), 'after the sessions\' own events')

    // What stays is what must: the cutoff and generation refuse a login that checked the
    // password before the deletion (create-session-n.lua compares the generation it read). Both
    // expire by themselves; no session, owner or index key is left.
    const keys = keysOf(ctx)
    t.same((await userKeys(ctx, user.id)).sort(), [keys.cutoff(user.id), keys.generation(user.id), keys.revoked(user.id)].sort(), 'only the cutoff, the generation and the record of why remain')
    t.equal(await ctx.redis.hget(keys.revoked(user.id), 'reason'), 'account_deleted', 'why: a token of it still tells its app')
    for (const key of [keys.cutoff(user.id), keys.generation(user.id), keys.revoked(user.id)]) {
      const pttl = await ctx.redis.pttl(key)
      t.ok(pttl > 0 && pttl <= ctx.config.sessionMaxAgeSeconds * 1000, `${key} expires by itself (PTTL ${pttl} ms)`)
    }
  })

  t.test('a wrong password: 401 invalid_password with a challenge; the account and the session still work', async (t) => {
    const account = await newSession(ctx)
    for (const password of ['wrong password', `${PASSWORD} `, PASSWORD.toUpperCase()]) {
      const res = await deleteMe(ctx.app, account.token, { password })
      t.equal(res.statusCode, 401, JSON.stringify(password))
      t.same(res.json(), { error: 'invalid_password', message: 'The current password is incorrect' })
      t.ok(res.headers['www-authenticate'], 'a 401 carries WWW-Authenticate')
    }
    await stillWorks(t, ctx, account)
    t.equal((await eventsOf(ctx, account.user.id)).filter((e) => e.type !== 'created').length, 0, 'no event but the login\'s')
  })

  t.test('bad bodies are 4xx (never 5xx) and delete nothing; no token is 401 missing_token', async (t) => {
    const account = await newSession(ctx)
    const json = { authorization: `Token token=${account.token}`, 'content-type': 'application/json' }
    const cases: Array<[string, InjectOptions, number]> = [
      ['no body', { method: 'DELETE', url: '/me', headers: { authorization: json.authorization } }, 400],
      ['an empty JSON body', { method: 'DELETE', url: '/me', headers: json, payload: '' }, 400],
      ['{}', { method: 'DELETE', url: '/me', headers: json, payload: '{}' }, 400],
      ['a number for the password', { method: 'DELETE', url: '/me', headers: json, payload: JSON.stringify({ password: 5 }) }, 400],
      ['null for the password', { method: 'DELETE', url: '/me', headers: json, payload: JSON.stringify({ password: null }) }, 400],
      ['an empty password', { method: 'DELETE', url: '/me', headers: json, payload: JSON.stringify({ password: '' }) }, 400],
      // The right password: were the extra field dropped instead of refused, the account would go.
      ['an extra field', { method: 'DELETE', url: '/me', headers: json, payload: JSON.stringify({ password: PASSWORD, confirm: true }) }, 400],
      ['JSON null', { method: 'DELETE', url: '/me', headers: json, payload: 'null' }, 400],
      ['an array', { method: 'DELETE', url: '/me', headers: json, payload: JSON.stringify([PASSWORD]) }, 400],
      ['malformed JSON', { method: 'DELETE', url: '/me', headers: json, payload: '{"password": ' }, 400],
      ['a 5 MB body', { method: 'DELETE', url: '/me', headers: json, payload: JSON.stringify({ password: 'x'.repeat(5 * 1024 * 1024) }) }, 413],
      ['form-encoded', { method: 'DELETE', url: '/me', headers: { ...json, 'content-type': 'application/x-www-form-urlencoded' }, payload: `password=${encodeURIComponent(PASSWORD)}` }, 415],
      ['a wrong password with a control character', { method: 'DELETE', url: '/me', headers: json, payload: JSON.stringify({ password: `${PASSWORD}\u0000` }) }, 401],
      ['a password past bcrypt\'s 72 bytes', { method: 'DELETE', url: '/me', headers: json, payload: JSON.stringify({ password: `${PASSWORD}${'x'.repeat(80)}` }) }, 401],
    ]
    for (const [name, request, status] of cases) {
      const res = await ctx.app.inject(request)
      t.equal(res.statusCode, status, name)
      t.type(res.json().error, 'string', `${name}: a JSON error`)
    }
    await stillWorks(t, ctx, account)

    const anonymous = await ctx.app.inject({ method: 'DELETE', url: '/me', payload: { password: PASSWORD } })
    t.equal(anonymous.statusCode, 401)
    t.equal(anonymous.json().error, 'missing_token')
    t.ok(await userExists(account.user.id))
  })

  t.test('the account is the session\'s: user B with A\'s password gets invalid_password, and A stays', async (t) => {
    const a = await newSession(ctx)
    const b = await newSession(ctx)
    // Both signed up with PASSWORD: give A one of its own, so that "A's password" means something.
    const aPassword = 'a password only a has'
    t.equal((await call(ctx.app, 'PUT', '/me/password', a.token, { current_password: PASSWORD, new_password: aPassword })).statusCode, 204)
    const withAs = await deleteMe(ctx.app, b.token, { password: aPassword })
    t.equal(withAs.statusCode, 401)
    t.equal(withAs.json().error, 'invalid_password', 'checked against B\'s hash: the user comes from the session, nothing else')
    t.ok(await userExists(a.user.id), 'A is still there')
    t.equal((await me(ctx.app, `Token token=${a.token}`)).statusCode, 200)
    await stillWorks(t, ctx, b)
  })

  t.test('two concurrent deletions of one user: 204 or 401 session_expired, never 5xx; one user-deleted event', async (t) => {
    for (let round = 0; round < 5; round++) {
      const { user, tokens } = await userWithLogins(ctx, 2)
      const answers = await Promise.all(tokens.map((token) => deleteMe(ctx.app, token, { password: PASSWORD })))
      for (const res of answers) {
        t.ok(res.statusCode === 204 || (res.statusCode === 401 && res.json().error === 'session_expired'), `round ${round}: ${res.statusCode} ${res.body}`)
      }
      t.ok(answers.some((res) => res.statusCode === 204), 'at least one of them did it')
      t.notOk(await userExists(user.id), 'the user is gone')
      const deleted = (await eventsOf(ctx, user.id)).filter((e) => e.type === 'user-deleted')
      t.equal(deleted.length, 1, `round ${round}: exactly one user-deleted event`)
    }
  })
})

t.test('wrong passwords at DELETE /me count against the login limits', async (t) => {
  const ctx = await buildTestApp(t, { LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: '2' })
  const account = await newSession(ctx)
  for (let i = 0; i < 2; i++) {
    t.equal((await deleteMe(ctx.app, account.token, { password: 'a guess' })).statusCode, 401, `guess ${i + 1}`)
  }
  const res = await deleteMe(ctx.app, account.token, { password: PASSWORD })
  t.equal(res.statusCode, 429, 'the right password too, once the guesses are used up')
  t.equal(res.json().error, 'too_many_requests')
  t.ok(Number(res.headers['retry-after']) > 0, `Retry-After: ${res.headers['retry-after']}`)
  t.ok(await userExists(account.user.id), 'the account is still there')
  t.equal((await me(ctx.app, `Token token=${account.token}`)).statusCode, 200, 'and the session still works')
  const loginNow = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email: account.email, password: PASSWORD } })
  t.equal(loginNow.statusCode, 429, 'the same count a login is refused by: one budget for both')
})

t.test('DELETE /admin/users/:id', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const url = (id: string) => `/admin/users/${id}`

  t.test('by an admin: 200 {revoked: n}; the sessions end, the row and its tokens go; user-deleted reason admin', async (t) => {
    const { user, email, tokens } = await userWithLogins(ctx, 3)
    await insertAccountToken(user.id)
    const res = await call(ctx.app, 'DELETE', url(user.id), admin.token)
    t.equal(res.statusCode, 200)
    t.same(res.json(), { revoked: 3 })
    for (const token of tokens) t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401)
    t.notOk(await userExists(user.id))
    t.equal(await accountTokenCount(user.id), 0)
    t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 401)
    const deleted = (await eventsOf(ctx, user.id)).filter((e) => e.type === 'user-deleted')
    t.equal(deleted.length, 1)
    t.match(deleted[0], { reason: 'admin', session_id: '', user_id: user.id })
    t.equal((await me(ctx.app, `Token token=${admin.token}`)).statusCode, 200, 'the admin\'s own session is untouched')

    const again = await call(ctx.app, 'DELETE', url(user.id), admin.token)
    t.equal(again.statusCode, 404, 'a second time: no such user')
    t.equal(again.json().error, 'user_not_found')
  })

  t.test('counts only live sessions', async (t) => {
    const { user, tokens } = await userWithLogins(ctx, 3)
    t.equal((await call(ctx.app, 'DELETE', '/sessions/current', tokens[0]!)).statusCode, 204, 'one logged out')
    t.same((await call(ctx.app, 'DELETE', url(user.id), admin.token)).json(), { revoked: 2 })
  })

  t.test('by a non-admin: 403 forbidden, nothing deleted', async (t) => {
    const target = await newSession(ctx)
    const member = await newSession(ctx)
    const res = await call(ctx.app, 'DELETE', url(target.user.id), member.token)
    t.equal(res.statusCode, 403)
    t.same(res.json(), { error: 'forbidden', message: 'This needs the admin role' })
    t.equal((await ctx.app.inject({ method: 'DELETE', url: url(target.user.id) })).statusCode, 401, 'anonymous: 401')
    await stillWorks(t, ctx, target)
  })

  t.test('an unknown id: 404; another spelling of a real id: 400; the admin\'s own id: 409', async (t) => {
    const unknown = await call(ctx.app, 'DELETE', url('00000000-0000-4000-8000-000000000000'), admin.token)
    t.equal(unknown.statusCode, 404)
    t.equal(unknown.json().error, 'user_not_found')

    const target = await newSession(ctx)
    for (const spelling of [target.user.id.toUpperCase(), `{${target.user.id}}`, target.user.id.replaceAll('-', ''), 'not-a-uuid']) {
      const res = await call(ctx.app, 'DELETE', url(encodeURIComponent(spelling)), admin.token)
      t.equal(res.statusCode, 400, spelling)
      t.equal(res.json().error, 'bad_request')
    }
    await stillWorks(t, ctx, target)

    const self = await call(ctx.app, 'DELETE', url(admin.user.id), admin.token)
    t.equal(self.statusCode, 409)
    t.equal(self.json().error, 'conflict')
    t.ok(await userExists(admin.user.id))
    t.equal((await me(ctx.app, `Token token=${admin.token}`)).statusCode, 200)
  })
})

t.test('DELETE /me of a user with 20,000 sessions: answered in time, every one of them ends', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const { user, token } = await newSession(ctx)
  const ids = await addSessions(await storeOf(t, ctx, { publish: false }), user, 20_000)
  const keys = keysOf(ctx)
  const sample = Array.from({ length: 50 }, (_, i) => ids[Math.floor((i * ids.length) / 50)]!)

  // Genuine tokens for sampled sessions, signed by the app itself: each works before the deletion.
  const sampleTokens = await Promise.all(sample.slice(0, 5).map(async (id) => {
    const createdAt = Number(await ctx.redis.hget(keys.session(user.id, id), 'created_at'))
    return ctx.app.tokens.sign({ jti: id, user_id: user.id, created_at: createdAt, iat: Math.floor(createdAt / 1000), exp: Math.floor(createdAt / 1000) + ctx.config.sessionMaxAgeSeconds })
  }))
  for (const sampled of sampleTokens) t.equal((await me(ctx.app, `Token token=${sampled}`)).statusCode, 200, 'a bulk session works before')
  t.equal(await ctx.redis.zcard(keys.index(user.id)), 20_001, 'the index holds them all')

  const started = Date.now()
  const res = await deleteMe(ctx.app, token, { password: PASSWORD })
  const tookMs = Date.now() - started
  t.equal(res.statusCode, 204)
  t.ok(tookMs < 30_000, `answered in ${tookMs} ms`)
  t.notOk(await userExists(user.id))

  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401, 'the login\'s token is refused')
  for (const sampled of sampleTokens) t.equal((await me(ctx.app, `Token token=${sampled}`)).statusCode, 401, 'a bulk session is refused')
  const swept = await eventually(30_000, async () =>
    (await ctx.redis.exists(keys.index(user.id))) === 0 &&
    (await Promise.all(sample.map((id) => ctx.redis.exists(keys.session(user.id, id), keys.owner(user.id, id))))).every((n) => n === 0))
  t.ok(swept, 'the index and the sampled session and owner keys are gone')
  const deleted = (await eventsOf(ctx, user.id)).filter((e) => e.type === 'user-deleted')
  t.equal(deleted.length, 1, 'one user-deleted event')
})
