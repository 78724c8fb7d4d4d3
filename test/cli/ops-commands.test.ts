import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { call, claimsOf, login, me, newSession } from '../helpers/http.js'
import { sessionKeyOf, streamEvents, touchUntilTtlAtMost } from '../helpers/redis.js'
import { cliEnv, gatehouse } from './run-cli.js'

t.test('gatehouse ttl', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '1200', SESSION_MAX_AGE_SECONDS: '86400' })
  const cwd = t.testdir({})
  const env = cliEnv(ctx.config)

  t.test('get shows the default until someone sets a TTL', async (t) => {
    const res = await gatehouse(['ttl', 'get'], env, cwd)
    t.equal(res.code, 0, res.stderr)
    t.equal(res.stdout.trim(), 'session TTL: 20m (1200 s), the default, SESSION_TTL_SECONDS')
  })

  t.test('set is honoured by a running instance within one second, for an existing session', async (t) => {
    const { token } = await newSession(ctx)
    const key = sessionKeyOf(ctx, token)
    t.ok((await ctx.redis.pttl(key)) > 60_000, 'the session starts with the 20 minute TTL')

    const res = await gatehouse(['ttl', 'set', '15m'], env, cwd)
    t.equal(res.code, 0, res.stderr)
    t.equal(res.stdout.trim(), 'session TTL: 20m (1200 s) -> 15m (900 s); every instance applies it within 1 s')
    const pttl = await touchUntilTtlAtMost(t, ctx, token, 900_000, Date.now())
    t.ok(pttl <= 900_000, `the instance slid the session with the new TTL within 1 s (PTTL ${pttl} ms)`)

    const got = await gatehouse(['ttl', 'get'], env, cwd)
    t.match(got.stdout, /^session TTL: 15m \(900 s\), set by cli \S+@\S+ at \d{4}-\d\d-\d\dT/)
  })

  t.test('reset goes back to SESSION_TTL_SECONDS', async (t) => {
    const res = await gatehouse(['ttl', 'reset'], env, cwd)
    t.equal(res.code, 0, res.stderr)
    t.equal(res.stdout.trim(), 'session TTL: 15m (900 s) -> 20m (1200 s) (the default); every instance applies it within 1 s')
    t.equal(await ctx.redis.hget(`${ctx.config.redisKeyPrefix}config`, 'session_ttl_seconds'), null)
  })

  t.test('bad values are refused with a reason and exit code 2; nothing is stored', async (t) => {
    const cases: [string, string][] = [
      ['0', 'the TTL must be at least 1 second (got 0)'],
      ['0m', 'the TTL must be at least 1 second (got 0)'],
      ['-5', 'the TTL must be positive (got "-5")'],
      ['-15m', 'the TTL must be positive (got "-15m")'],
      ['abc', 'the TTL must be a whole number of seconds, or a duration like 90s, 15m, 2h or 1d (got "abc")'],
      ['1.5h', 'a duration like 90s, 15m, 2h or 1d (got "1.5h")'],
      ['15 minutes', '(got "15 minutes")'],
      ['2d', 'the TTL must not exceed the absolute session lifetime, SESSION_MAX_AGE_SECONDS (1d (86400 s); got 2d (172800 s))'],
      ['86401', 'must not exceed the absolute session lifetime'],
    ]
    for (const [value, message] of cases) {
      const res = await gatehouse(['ttl', 'set', value], env, cwd)
      t.equal(res.code, 2, value)
      t.match(res.stderr, /^gatehouse: the TTL must /, value)
      t.match(res.stderr, message, value)
    }
    for (const args of [['ttl', 'set'], ['ttl', 'set', '1m', '2m'], ['ttl', 'get', 'now'], ['ttl', 'frob'], ['ttl', 'get', '--user', 'x@example.com']]) {
      t.equal((await gatehouse(args, env, cwd)).code, 2, args.join(' '))
    }
    t.equal(await ctx.redis.hget(`${ctx.config.redisKeyPrefix}config`, 'session_ttl_seconds'), null)
  })

  t.test('Redis unavailable: exit code 1 and one line', async (t) => {
    const res = await gatehouse(['ttl', 'set', '10m'], { ...env, REDIS_URL: 'redis://127.0.0.1:1' }, cwd)
    t.equal(res.code, 1)
    t.match(res.stderr, /^gatehouse: cannot reach Redis at redis:\/\/127.0.0.1:1/)
  })

  t.test('--help lists the commands and exits 0', async (t) => {
    const res = await gatehouse(['--help'], env, cwd)
    t.equal(res.code, 0)
    for (const command of ['ttl get', 'ttl set <duration>', 'ttl reset', 'sessions list --user <email|id> [--limit N]', 'sessions revoke --user <email|id>']) t.match(res.stdout, command)
  })
})

t.test('gatehouse sessions', async (t) => {
  const ctx = await buildTestApp(t)
  const cwd = t.testdir({})
  const env = cliEnv(ctx.config)
  const { email, token, user } = await newSession(ctx)
  const ios = (await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'x-client': 'ios' }, payload: { email, password: 'correct horse battery' } })).json().token
  await call(ctx.app, 'GET', '/me', ios)

  t.test('list shows the live sessions, most recently used first', async (t) => {
    const res = await gatehouse(['sessions', 'list', '--user', email], env, cwd)
    t.equal(res.code, 0, res.stderr)
    const lines = res.stdout.trim().split('\n')
    t.equal(lines[0], `${email}: 2 live session(s)`)
    t.match(lines[2], new RegExp(`^${claimsOf(ios).jti}  ios  127\\.0\\.0\\.1  `))
    t.match(lines[3], new RegExp(`^${claimsOf(token).jti}  -  127\\.0\\.0\\.1  `))
  })

  t.test('revoke ends them all, with reason admin in the event stream', async (t) => {
    const res = await gatehouse(['sessions', 'revoke', '--user', email], env, cwd)
    t.equal(res.code, 0, res.stderr)
    t.match(res.stdout.trim(), new RegExp(`^${email}: 2 session\\(s\\) ended \\(by cli \\S+@\\S+\\)$`))
    t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401)
    t.equal((await me(ctx.app, `Token token=${ios}`)).statusCode, 401)
    const revoked = (await streamEvents(ctx)).filter((e) => e.type === 'revoked')
    t.same(revoked.map((e) => [e.user_id, e.reason]).sort(), [[user.id, 'admin'], [user.id, 'admin']])
    const after = await gatehouse(['sessions', 'list', '--user', email], env, cwd)
    t.equal(after.stdout.trim(), `${email} has no live sessions`)
    await login(ctx.app, email)
  })

  t.test('usage errors and unknown users', async (t) => {
    t.equal((await gatehouse(['sessions', 'list'], env, cwd)).code, 2)
    t.match((await gatehouse(['sessions', 'revoke'], env, cwd)).stderr, 'sessions revoke needs --user <email|id>')
    t.equal((await gatehouse(['sessions', 'list', 'extra', '--user', email], env, cwd)).code, 2)
    const unknown = await gatehouse(['sessions', 'revoke', '--user', 'nobody@example.invalid'], env, cwd)
    t.equal(unknown.code, 1)
    t.equal(unknown.stderr.trim(), 'gatehouse: no user with email nobody@example.invalid')
  })
})
