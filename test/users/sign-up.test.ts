import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { PASSWORD } from '../helpers/http.js'

t.test('POST /users', async (t) => {
  const ctx = await buildTestApp(t)
  const signUp = (payload: unknown) => ctx.app.inject({ method: 'POST', url: '/users', payload: payload as object })

  t.test('creates a user and never returns the password hash', async (t) => {
    const email = ctx.email()
    const res = await signUp({ email, password: PASSWORD })
    t.equal(res.statusCode, 201)
    const { user } = res.json()
    t.same(Object.keys(user).sort(), ['createdAt', 'created_at', 'email', 'emailVerifiedAt', 'email_verified_at', 'id', 'role'])
    t.equal(user.emailVerifiedAt, null, 'a new account is unverified')
    t.equal(user.role, 'user', 'everyone signs up as a plain user')
    t.equal(user.email, email)
    t.match(user.id, /^[0-9a-f-]{36}$/)
    t.ok(Date.parse(user.createdAt))
    t.notMatch(res.body, /\$2[aby]\$/, 'no bcrypt hash in the body')
  })

  t.test('emails are unique case-insensitively and stored normalised', async (t) => {
    const email = ctx.email()
    t.equal((await signUp({ email, password: PASSWORD })).statusCode, 201)
    const again = await signUp({ email: email.toUpperCase(), password: 'another password' })
    t.equal(again.statusCode, 409)
    t.same(again.json(), { error: 'email_taken', message: 'An account with this email already exists' })

    const mixed = ctx.email().replace(/^./, 'A')
    const res = await signUp({ email: mixed, password: PASSWORD })
    t.equal(res.json().user.email, mixed.toLowerCase())
  })

  t.test('refuses bad input with 400 and a message that says what is wrong', async (t) => {
    const email = ctx.email()
    const cases: Array<[string, unknown, RegExp]> = [
      ['invalid email', { email: 'not-an-email', password: PASSWORD }, /email/],
      ['empty email', { email: '', password: PASSWORD }, /email/],
      ['too long email', { email: `${'a'.repeat(250)}@x.io`, password: PASSWORD }, /email/],
      ['short password', { email, password: 'seven77' }, /password must NOT have fewer than 8 characters/],
      ['password over 72 characters', { email, password: 'a'.repeat(73) }, /password/],
      // 30 characters but 120 bytes: bcrypt would silently ignore everything past byte 72.
      ['password over 72 bytes', { email, password: '😀'.repeat(30) }, /must be at most 72 bytes in UTF-8, and this one is 120: .* a password of 30 characters can be too long/],
      ['missing password', { email }, /password/],
      ['missing email', { password: PASSWORD }, /email/],
      ['number as password', { email, password: 12345678 }, /password must be string/],
      ['unknown field', { email, password: PASSWORD, role: 'admin' }, /additional properties/],
      ['array body', [email, PASSWORD], /body must be object/],
      ['NUL in the email', { email: `${email}\u0000`, password: PASSWORD }, /email/],
      ['control character in the email', { email: email.replace('@', '\u0007@'), password: PASSWORD }, /email/],
      ['DEL in the email', { email: `\u007f${email}`, password: PASSWORD }, /email/],
    ]
    for (const [name, payload, message] of cases) {
      const res = await signUp(payload)
      t.equal(res.statusCode, 400, name)
      t.equal(res.json().error, 'bad_request', name)
      t.match(res.json().message, message, name)
    }
    // None of them created the account.
    t.equal((await signUp({ email, password: PASSWORD })).statusCode, 201)
  })

  t.test('a password of exactly 72 bytes is accepted', async (t) => {
    const res = await signUp({ email: ctx.email(), password: 'é'.repeat(36) })
    t.equal(res.statusCode, 201)
  })
})
