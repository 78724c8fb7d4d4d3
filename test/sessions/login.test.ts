import t from 'tap'
import { TEST_JWT_KID } from '../helpers/config.js'
import { buildTestApp } from '../helpers/app.js'
import { claimsOf, login, me, PASSWORD, signUp } from '../helpers/http.js'
import { scanKeys } from '../helpers/redis.js'

t.test('POST /sessions', async (t) => {
  const ctx = await buildTestApp(t)
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  const attempt = (payload: unknown) => ctx.app.inject({ method: 'POST', url: '/sessions', payload: payload as object })

  t.test('logs in with the right password, any email case', async (t) => {
    const res = await attempt({ email: email.toUpperCase(), password: PASSWORD })
    t.equal(res.statusCode, 201)
    t.equal(res.headers['cache-control'], 'no-store', 'a token response is never cached')
    const body = res.json()
    t.same(body.user, user)
    t.match(body.token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    t.equal((await me(ctx.app, `Token token=${body.token}`)).statusCode, 200)
  })

  t.test('the token carries user_id, created_at, jti, iat, exp and iss', async (t) => {
    const { token } = await login(ctx.app, email)
    const claims = claimsOf(token)
    t.same(Object.keys(claims).sort(), ['created_at', 'exp', 'iat', 'iss', 'jti', 'user_id'])
    t.equal(claims.iss, 'gatehouse')
    t.equal(claims.user_id, user.id)
    t.match(claims.jti, /^[A-Za-z0-9_-]{22}$/, '128 random bits, base64url')
    t.equal(claims.iat, Math.floor((claims.created_at as number) / 1000))
    t.equal(claims.exp, Math.floor(((claims.created_at as number) + ctx.config.sessionMaxAgeSeconds * 1000) / 1000))
    t.ok(Math.abs((claims.created_at as number) - Date.now()) < 60_000, 'created_at is Unix milliseconds')
    // EdDSA, the default, named by the RFC 7638 thumbprint of its public key (43 base64url characters).
    t.match(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()), { alg: 'EdDSA', typ: 'gatehouse-session+jwt', kid: TEST_JWT_KID })
  })

  t.test('each login is a new session', async (t) => {
    const a = claimsOf((await login(ctx.app, email)).token)
    const b = claimsOf((await login(ctx.app, email)).token)
    t.not(a.jti, b.jti)
  })

  t.test('a wrong password and an unknown email get the same 401', async (t) => {
    const wrongPassword = await attempt({ email, password: 'not the password' })
    const unknownEmail = await attempt({ email: ctx.email(), password: PASSWORD })
    // bcrypt would compare only the first 72 bytes: a longer password must not log in either.
    const tooLong = await attempt({ email, password: PASSWORD + 'x'.repeat(100) })
    for (const res of [wrongPassword, unknownEmail, tooLong]) {
      t.equal(res.statusCode, 401)
      t.same(res.json(), { error: 'invalid_credentials', message: 'Email or password is incorrect' })
      t.equal(res.headers['www-authenticate'], 'Token realm="Application"', 'a 401 carries a challenge (RFC 9110 §15.5.2)')
    }
    t.equal(wrongPassword.body, unknownEmail.body)
  })

  t.test('a password whose first 72 bytes match is not enough', async (t) => {
    const exact = 'p'.repeat(72)
    const longEmail = ctx.email()
    await signUp(ctx.app, longEmail, exact)
    t.equal((await attempt({ email: longEmail, password: exact })).statusCode, 201)
    t.equal((await attempt({ email: longEmail, password: `${exact}extra` })).statusCode, 401)
  })

  t.test('bad bodies are 400, not 401 or 500', async (t) => {
    for (const payload of [{}, { email }, { password: PASSWORD }, { email, password: '' }, { email, password: 1 }, { email, password: PASSWORD, extra: 1 }]) {
      const res = await attempt(payload)
      t.equal(res.statusCode, 400, JSON.stringify(payload))
      t.equal(res.json().error, 'bad_request')
    }
  })

  t.test('an email with a control character is a 400, never a dependency failure', async (t) => {
    // U+0000 used to reach PostgreSQL, which refuses it in text: 503 "postgres unavailable".
    for (const bad of ['\u0000', '\u0001', '\n', '\t', '\u001f', '\u007f']) {
      for (const spelled of [`${bad}${email}`, `${email}${bad}`, email.replace('@', `${bad}@`)]) {
        const res = await attempt({ email: spelled, password: PASSWORD })
        t.equal(res.statusCode, 400, JSON.stringify(spelled))
        t.equal(res.json().error, 'bad_request')
      }
    }
    t.equal((await attempt({ email, password: PASSWORD })).statusCode, 201, 'nothing was counted against the account')
  })

  t.test('no session is created by a failed login', async (t) => {
    // Failures do leave their count under <prefix>throttle: (test/http/throttling.test.ts), and
    // the console's per-minute counts under <prefix>activity:, written every 5 s (it counts them).
    const sessionKeys = async () => (await scanKeys(ctx.redis, ctx.config.redisKeyPrefix)).filter((key) => !key.includes(':throttle:') && !key.includes('activity:')).sort()
    const before = await sessionKeys()
    await attempt({ email, password: 'wrong password!' })
    await attempt({ email: ctx.email(), password: PASSWORD })
    t.same(await sessionKeys(), before)
  })
})
