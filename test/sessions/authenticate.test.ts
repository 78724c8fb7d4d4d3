import { generateKeyPairSync } from 'node:crypto'
import { TOKEN_TYPE } from '@gatehouse/session-reader/token'
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { newSessionId } from '../../src/sessions/store.js'
import { buildTestApp } from '../helpers/app.js'
import { TEST_JWT_SECRET } from '../helpers/config.js'
import { claimsOf, me, newSession, signAsGatehouse } from '../helpers/http.js'
import { sessionKeyOf } from '../helpers/redis.js'
import { sleep } from '../helpers/wait.js'

const CHALLENGE = 'Token realm="Application"'
/** Signs like Gatehouse does (HS256, typed, the test secret): the token is genuine, only its claims vary. */
const signGenuine = (claims: Record<string, unknown>) => signAsGatehouse(claims)

t.test('authentication on GET /me', async (t) => {
  const ctx = await buildTestApp(t)
  const { token, user } = await newSession(ctx)
  const claims = claimsOf(token)

  const expect401 = async (t: Test, authorization: string | undefined, error: string, name: string) => {
    const res = await me(ctx.app, authorization)
    t.equal(res.statusCode, 401, name)
    // A caller that used Bearer is answered in Bearer (RFC 6750 §3); every other one in Rails' Token.
    const bearer = /^bearer(\s|$)/i.test(authorization ?? '')
    const challenge = !bearer ? CHALLENGE : error === 'missing_token' ? 'Bearer realm="Application"' : 'Bearer realm="Application", error="invalid_token"'
    t.equal(res.headers['www-authenticate'], challenge, `${name}: challenge`)
    t.equal(res.json().error, error, `${name}: ${error}`)
    // session_expired also says why (docs/api.md, "Why a session ended"); nothing else says more.
    const keys = error === 'session_expired' ? ['error', 'message', 'reason'] : ['error', 'message']
    t.same(Object.keys(res.json()).filter((key) => key !== 'cause').sort(), keys, `${name}: body is {${keys.join(', ')}}`)
  }

  t.test('accepts every header form the mobile app may send', async (t) => {
    const forms = [
      `Token token=${token}`,
      `Token token="${token}"`,
      `Token token="${token}", device="ios"`,
      `Token token=${token}; device=ios`,
      `Token token=${token}\tdevice=ios`,
      `Token ${token}`,
      `token token=${token}`,
      `TOKEN ${token}`,
      `Bearer ${token}`,
      `bearer ${token}`,
    ]
    for (const authorization of forms) {
      const res = await me(ctx.app, authorization)
      t.equal(res.statusCode, 200, authorization.replace(token, '<token>'))
      t.same(res.json(), { user })
    }
  })

  t.test('no token: 401 missing_token', async (t) => {
    for (const header of [undefined, '', 'Token', 'Token ', 'Token token=', 'Bearer', `Basic ${token}`, token, `Tokens ${token}`, `token=${token}`]) {
      await expect401(t, header, 'missing_token', JSON.stringify(header?.replace(token, '<token>')))
    }
  })

  t.test('the 401 challenge follows the scheme the caller used', async (t) => {
    const bearer = 'Bearer realm="Application", error="invalid_token"'
    for (const [authorization, error, challenge] of [
      ['Bearer abc', 'invalid_token', bearer],
      [`bearer ${token}x`, 'invalid_token', bearer],
      ['BEARER a.b.c', 'invalid_token', bearer],
      ['Bearer', 'missing_token', 'Bearer realm="Application"'],
      ['Token token=abc', 'invalid_token', CHALLENGE],
      ['Token abc', 'invalid_token', CHALLENGE],
      ['Bearerx abc', 'missing_token', CHALLENGE],
      [`Basic ${token}`, 'missing_token', CHALLENGE],
    ] as const) {
      const res = await me(ctx.app, authorization)
      t.equal(res.statusCode, 401)
      t.equal(res.json().error, error, `${authorization.slice(0, 12)}: ${error}`)
      t.equal(res.headers['www-authenticate'], challenge, `${authorization.slice(0, 12)}: ${challenge}`)
    }
    // An ended session, asked with Bearer: invalid_token in the challenge, session_expired (and why) in the body.
    const ended = await newSession(ctx)
    await ctx.app.inject({ method: 'DELETE', url: '/sessions/current', headers: { authorization: `Bearer ${ended.token}` } })
    const res = await me(ctx.app, `Bearer ${ended.token}`)
    t.match(res.json(), { error: 'session_expired', reason: 'logged_out' })
    t.equal(res.headers['www-authenticate'], bearer)
  })

  t.test('garbage tokens: 401 invalid_token', async (t) => {
    for (const bad of ['abc', 'a.b.c', `${token}x`, token.slice(0, -2), token.replaceAll('.', ''), 'x'.repeat(5000), `${token}.${token}`]) {
      await expect401(t, `Token token=${bad}`, 'invalid_token', bad.slice(0, 20))
    }
  })

  t.test('tampered tokens: 401 invalid_token', async (t) => {
    const [header, , signature] = token.split('.')
    const forged = (payload: object) => `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`
    await expect401(t, `Token token=${forged({ ...claims, user_id: '00000000-0000-4000-8000-000000000000' })}`, 'invalid_token', 'other user_id')
    await expect401(t, `Token token=${forged({ ...claims, exp: (claims.exp as number) + 3600 })}`, 'invalid_token', 'longer exp')
  })

  t.test('a genuine signature over another spelling of the user id: 401 invalid_token', async (t) => {
    // Gatehouse never signs such a token; if one existed it must not name other Redis keys.
    const id = String(claims.user_id)
    for (const spelling of [id.toUpperCase(), `urn:uuid:${id}`, `{${id}}`, ` ${id}`]) {
      await expect401(t, `Token token=${signGenuine({ ...claims, user_id: spelling })}`, 'invalid_token', JSON.stringify(spelling))
    }
  })

  t.test('tokens signed any other way: 401 invalid_token', async (t) => {
    const payload = { ...claims }
    const encode = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
    // Typed as Gatehouse types its tokens, so that only the signing differs.
    const alg = (algorithm: 'HS256' | 'HS384' | 'HS512', key = TEST_JWT_SECRET) => createSigner({ key, algorithm, header: { alg: algorithm, typ: TOKEN_TYPE } })(payload)
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const cases: Array<[string, string]> = [
      ['alg none, no signature', `${encode({ alg: 'none', typ: TOKEN_TYPE })}.${encode(payload)}.`],
      ['alg none, old signature', `${encode({ alg: 'none', typ: TOKEN_TYPE })}.${encode(payload)}.${token.split('.')[2]}`],
      ['HS384 with the right secret', alg('HS384')],
      ['HS512 with the right secret', alg('HS512')],
      ['HS256 with a wrong secret', alg('HS256', 'another-secret-of-at-least-32-bytes!!')],
      ['RS256', createSigner({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'RS256', header: { alg: 'RS256', typ: TOKEN_TYPE } })(payload)],
    ]
    for (const [name, forgedToken] of cases) await expect401(t, `Token token=${forgedToken}`, 'invalid_token', name)
  })

  t.test('a genuine token whose claims are malformed: 401 invalid_token', async (t) => {
    const { user_id, created_at, exp, jti, iss } = claims
    const cases: Array<[string, Record<string, unknown>]> = [
      ['no jti', { user_id, created_at, exp, iss }],
      ['no user_id', { jti, created_at, exp, iss }],
      ['no created_at', { jti, user_id, exp, iss }],
      ['no exp', { jti, user_id, created_at, iss }],
      ['jti not a session id', { jti: 'short', user_id, created_at, exp, iss }],
      ['created_at a string', { jti, user_id, created_at: String(created_at), exp, iss }],
    ]
    for (const [name, payload] of cases) await expect401(t, `Token token=${signGenuine(payload)}`, 'invalid_token', name)
  })

  t.test('an expired token: 401 session_expired', async (t) => {
    const now = Date.now()
    const expired = signGenuine({
      ...claims,
      iat: Math.floor(now / 1000) - 100,
      exp: Math.floor(now / 1000) - 10,
    })
    await expect401(t, `Token token=${expired}`, 'session_expired', 'expired')
  })

  t.test('a token already verified is refused once its exp passes (the verified-token cache checks exp)', async (t) => {
    // The real session (still live in Redis for hours), under a token whose exp is 2 s away.
    const exp = Math.floor(Date.now() / 1000) + 2
    const shortLived = signGenuine({ ...claims, exp })
    t.equal((await me(ctx.app, `Token token=${shortLived}`)).statusCode, 200, 'verified and cached while valid')
    t.equal((await me(ctx.app, `Token token=${shortLived}`)).statusCode, 200, 'and served from the cache')
    await sleep(exp * 1000 - Date.now() + 50) // until its exp has passed: a sleep, time is the subject
    await expect401(t, `Token token=${shortLived}`, 'session_expired', 'past exp, even though it was cached')
    t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'the session itself is untouched')
  })

  t.test('a genuine token without a session in Redis: 401 session_expired', async (t) => {
    const orphan = signGenuine({ ...claims, jti: newSessionId() })
    await expect401(t, `Token token=${orphan}`, 'session_expired', 'no session')
    t.equal(await ctx.redis.exists(sessionKeyOf(ctx, orphan)), 0, 'and none was created')
  })

  t.test('a session is bound to its user: another user_id with the same jti is refused', async (t) => {
    const other = await newSession(ctx)
    const mixed = signGenuine({ ...claims, user_id: other.user.id })
    await expect401(t, `Token token=${mixed}`, 'session_expired', 'jti of another user')
  })

  t.test('the error messages do not say which check failed', async (t) => {
    const messages = new Set<string>()
    for (const header of ['Token token=abc', `Token token=${token}x`, 'Bearer a.b.c']) messages.add((await me(ctx.app, header)).json().message)
    t.equal(messages.size, 1)
  })
})
