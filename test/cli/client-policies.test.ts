import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { newSession, PASSWORD } from '../helpers/http.js'
import { eventually } from '../helpers/wait.js'
import { cliEnv, gatehouse } from './run-cli.js'

// `gatehouse ttl set|reset --client`, `ttl get`'s client lines and `sessions revoke --client`
// (docs/ops.md, "Client policies"): one client's window, set live from a shell.

const DAY = 86_400

/** A login as an app of `audience` makes it (JWT-Aud), and what it was told about its window. */
async function loginAs (app: FastifyInstance, email: string, audience: string) {
  const res = await app.inject({ method: 'POST', url: '/sessions', headers: { 'jwt-aud': audience }, payload: { email, password: PASSWORD } })
  if (res.statusCode !== 201) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json() as { token: string, idle_timeout_seconds: number }
}

t.test('gatehouse ttl --client and sessions revoke --client', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '1200', SESSION_MAX_AGE_SECONDS: String(90 * DAY) })
  const cwd = t.testdir({})
  const env = cliEnv(ctx.config)
  const { email } = await newSession(ctx)
  const clientFields = async () => Object.keys(await ctx.redis.hgetall(`${ctx.config.redisKeyPrefix}config`)).filter((field) => field.startsWith('client_')).sort()

  t.test('set gives a client its own window; a running instance applies it within a second', async (t) => {
    const res = await gatehouse(['ttl', 'set', '30d', '--client', 'ios', '--max-age', '60d'], env, cwd)
    t.equal(res.code, 0, res.stderr)
    t.equal(res.stdout.trim(), 'client ios: idle 20m (1200 s, the global TTL), max age 90d (7776000 s, SESSION_MAX_AGE_SECONDS) -> idle 30d (2592000 s), max age 60d (5184000 s); every instance applies it within 1 s, to new and existing sessions')
    t.ok(await eventually(1500, async () => (await loginAs(ctx.app, email, 'ios')).idle_timeout_seconds === 30 * DAY), 'a login as ios gets the 30-day window')
    t.equal((await loginAs(ctx.app, email, 'android')).idle_timeout_seconds, 1200, 'a client without a policy gets the global TTL')

    const get = await gatehouse(['ttl', 'get'], env, cwd)
    t.equal(get.code, 0, get.stderr)
    const lines = get.stdout.trim().split('\n')
    t.equal(lines[0], 'session TTL: 20m (1200 s), the default, SESSION_TTL_SECONDS', 'the global line first, as before')
    t.match(lines[1], /^client ios: idle 30d \(2592000 s\), max age 60d \(5184000 s\), changed by cli \S+@\S+ at \d{4}-\d\d-\d\dT[\d:.]+Z$/)
    t.equal(lines.length, 2)
  })

  t.test('without --max-age the maximum age is SESSION_MAX_AGE_SECONDS again; names may hold / and :', async (t) => {
    const res = await gatehouse(['ttl', 'set', '2h', '--client', 'ios'], env, cwd)
    t.equal(res.code, 0, res.stderr)
    t.equal(res.stdout.trim(), 'client ios: idle 30d (2592000 s), max age 60d (5184000 s) -> idle 2h (7200 s), max age 90d (7776000 s, SESSION_MAX_AGE_SECONDS); every instance applies it within 1 s, to new and existing sessions')
    const beta = await gatehouse(['ttl', 'set', '900', '--client', 'urn:app/ios-beta'], env, cwd)
    t.equal(beta.code, 0, beta.stderr)
    t.match(beta.stdout, 'client urn:app/ios-beta: idle 20m (1200 s, the global TTL)')
    t.match((await gatehouse(['ttl', 'get'], env, cwd)).stdout, /\nclient ios: idle 2h \(7200 s\), max age 90d \(7776000 s, SESSION_MAX_AGE_SECONDS\), changed by .*\nclient urn:app\/ios-beta: idle 15m \(900 s\)/)
  })

  t.test('reset puts a client back under the global policy', async (t) => {
    const res = await gatehouse(['ttl', 'reset', '--client', 'urn:app/ios-beta'], env, cwd)
    t.equal(res.code, 0, res.stderr)
    t.equal(res.stdout.trim(), 'client urn:app/ios-beta: idle 15m (900 s), max age 90d (7776000 s, SESSION_MAX_AGE_SECONDS) -> the global policy (idle 20m (1200 s, the global TTL), max age 90d (7776000 s, SESSION_MAX_AGE_SECONDS)); every instance applies it within 1 s')
    const again = await gatehouse(['ttl', 'reset', '--client', 'urn:app/ios-beta'], env, cwd)
    t.equal(again.code, 0, again.stderr)
    t.match(again.stdout, 'client urn:app/ios-beta had no policy of its own; nothing changed')
    t.same(await clientFields(), ['client_set_at:ios', 'client_set_by:ios', 'client_ttl_seconds:ios'], 'nothing of it is left in the config hash')
  })

  t.test('sessions revoke --client ends every session of that client at once, from Redis alone', async (t) => {
    const ios = await loginAs(ctx.app, email, 'ios')
    const android = await loginAs(ctx.app, email, 'android')
    // No Postgres is needed (or opened): the ending is one write to the config hash.
    const res = await gatehouse(['sessions', 'revoke', '--client', 'ios'], { ...env, DATABASE_URL: 'postgres://gatehouse@127.0.0.1:1/nowhere' }, cwd)
    t.equal(res.code, 0, res.stderr)
    const [first, second, third] = res.stdout.trim().split('\n')
    const at = /^client ios: every session created before (\S+) is ended, on every instance at once \(by cli \S+@\S+\)\.$/.exec(first ?? '')?.[1]
    t.ok(at && Math.abs(Date.parse(at) - Date.now()) < 10_000, `the instant, now: ${first}`)
    t.equal(second, 'Nothing is deleted and no events are published: those sessions are refused from now on, and their keys expire on')
    t.equal(third, 'their own, each at the end of the idle window it last had (ios\'s is now 2h (7200 s)). New logins of ios work as before.')

    const me = (token: string, audience: string) => ctx.app.inject({ url: '/me', headers: { authorization: `Token token=${token}`, 'jwt-aud': audience } })
    // The running instance re-reads the policies twice a second.
    t.ok(await eventually(1500, async () => (await me(ios.token, 'ios')).statusCode === 401), 'the ios session is refused within a second')
    t.match((await me(ios.token, 'ios')).json(), { error: 'session_expired', reason: 'revoked', cause: 'client_ended' })
    t.equal((await me(android.token, 'android')).statusCode, 200, 'another client\'s session lives on')
    const again = await loginAs(ctx.app, email, 'ios')
    t.equal((await me(again.token, 'ios')).statusCode, 200, 'a new login of ios works')
    t.match((await gatehouse(['ttl', 'get'], env, cwd)).stdout.trim(), new RegExp(`\\nclient ios: idle 2h \\(7200 s\\), .*; its sessions created before ${at!.replace(/[.]/g, '\\.')} were ended$`))
  })

  t.test('what is not a client name or a window is a usage error (exit 2) with the reason; nothing is stored', async (t) => {
    const before = await ctx.redis.hgetall(`${ctx.config.redisKeyPrefix}config`)
    const cases: Array<[string[], string]> = [
      [['ttl', 'set', '30d', '--client'], 'argument missing'],
      [['ttl', 'set', '30d', '--client', ''], '--client: a client is named by the audience its tokens are bound to (JWT-Aud)'],
      [['ttl', 'set', '30d', '--client=-ios'], '--client: a client is named by the audience'],
      [['ttl', 'set', '30d', '--client', 'my app'], '(got "my app")'],
      [['ttl', 'set', '30d', '--client', 'ios\n'], '--client: a client name holds no control characters'],
      [['ttl', 'set', '30d', '--client', 'a'.repeat(129)], '1-128 letters, digits and . _ : / -'],
      [['sessions', 'revoke', '--client', 'ios,android'], '--client: a client is named by the audience'],
      [['ttl', 'reset', '--client', 'é'], '--client: a client is named by the audience'],
      [['ttl', 'set', '0', '--client', 'ios'], 'the idle window: the TTL must be at least 1 second (got 0)'],
      [['ttl', 'set', '-5', '--client', 'ios'], 'the idle window: the TTL must be positive (got "-5")'],
      [['ttl', 'set', '1.5h', '--client', 'ios'], 'the idle window: the TTL must be a whole number of seconds, or a duration like'],
      [['ttl', 'set', '2h', '--client', 'ios', '--max-age', '1h'], 'the idle window must not exceed the client\'s maximum age (1h (3600 s); got 2h (7200 s))'],
      [['ttl', 'set', '1d', '--client', 'ios', '--max-age', '91d'], 'the maximum age must not exceed SESSION_MAX_AGE_SECONDS (90d (7776000 s); got 91d (7862400 s))'],
      [['ttl', 'set', '91d', '--client', 'ios'], 'must not exceed the absolute session lifetime, SESSION_MAX_AGE_SECONDS (90d (7776000 s); got 91d (7862400 s))'],
      [['ttl', 'set', '1d', '--client', 'ios', '--max-age', '-90d'], '--max-age: the TTL must be positive (got "-90d")'],
      [['ttl', 'set', '1d', '--client', 'ios', '--max-age', '0'], '--max-age: the TTL must be at least 1 second'],
      [['ttl', 'set', '1d', '--client', 'ios', '--max-age', 'forever'], '--max-age: the TTL must be a whole number of seconds'],
      [['ttl', 'set', '15m', '--max-age', '1d'], '--max-age goes with --client'],
      [['ttl', 'set', '--client', 'ios'], 'ttl set needs one duration, e.g. 30d'],
      [['ttl', 'set', '1d', '2d', '--client', 'ios'], 'ttl set needs one duration'],
      [['ttl', 'get', '--client', 'ios'], 'ttl get takes no --client'],
      [['ttl', 'reset', '--client', 'ios', '--max-age', '1d'], 'ttl reset takes no --max-age'],
      [['sessions', 'list', '--client', 'ios'], 'sessions list takes no --client'],
      [['sessions', 'revoke', '--client', 'ios', '--limit', '5'], 'sessions revoke takes no --limit'],
      [['sessions', 'revoke', '--client', 'ios', '--user', email], 'sessions revoke takes --user or --client, not both'],
      [['sessions', 'revoke'], 'sessions revoke needs --user <email|id> or --client <name>'],
      [['sessions', 'revoke', '--client', 'ios', 'now'], 'sessions revoke takes no arguments'],
      [['users', 'delete', email, '--client', 'ios'], 'users delete takes no --client'],
      [['ttl', 'set', '1d', '--clients', 'ios'], 'Unknown option \'--clients\''],
    ]
    for (const [args, message] of cases) {
      const res = await gatehouse(args, env, cwd)
      const what = JSON.stringify(args)
      t.equal(res.code, 2, `${what}: ${res.stderr}`)
      t.match(res.stderr, /^gatehouse: /, what)
      t.match(res.stderr, message, what)
      t.match(res.stderr, 'Run gatehouse --help for usage.', what)
      t.notMatch(res.stderr, /\n\s+at /, `${what}: no stack trace`)
    }
    t.same(await ctx.redis.hgetall(`${ctx.config.redisKeyPrefix}config`), before, 'the config hash is as it was')
  })

  t.test('--help names the client forms', async (t) => {
    const res = await gatehouse(['--help'], env, cwd)
    t.equal(res.code, 0)
    for (const line of ['ttl set <duration> --client <name> [--max-age <duration>]', 'ttl reset --client <name>', 'sessions revoke --client <name>', 'JWT-Aud']) t.match(res.stdout, line)
  })
})
