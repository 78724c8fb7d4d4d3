import { createHash } from 'node:crypto'
import t from 'tap'
import { migrate } from '../../src/db/migrate.js'
import { buildTestApp } from '../helpers/app.js'
import { testConfig, uniqueId } from '../helpers/config.js'
import { sql, TEST_DATABASE_URL } from '../helpers/db.js'
import { login, me, newSession } from '../helpers/http.js'
import { adminClient, deleteKeys } from '../helpers/redis.js'
import { cliEnv, gatehouse } from './run-cli.js'

t.test('gatehouse users set-role', async (t) => {
  const ctx = await buildTestApp(t)
  const cwd = t.testdir({})
  const env = cliEnv(ctx.config)
  const { email, token } = await newSession(ctx)

  t.test('makes an admin and ends the user\'s sessions', async (t) => {
    const res = await gatehouse(['users', 'set-role', email.toUpperCase(), 'admin'], env, cwd)
    t.equal(res.code, 0, res.stderr)
    t.match(res.stdout, `${email}: role user -> admin; their sessions were ended`)
    t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401)
    const again = await gatehouse(['users', 'set-role', email, 'admin'], env, cwd)
    t.equal(again.code, 0)
    t.match(again.stdout, 'already has role admin; nothing changed')
  })

  t.test('usage errors exit 2 with a hint', async (t) => {
    for (const args of [[], ['users'], ['users', 'set-role', email], ['users', 'set-role', email, 'root'], ['users', 'delete'], ['users', 'delete', email, 'extra'], ['users', 'remove', email], ['--bogus']]) {
      const res = await gatehouse(args, env, cwd)
      t.equal(res.code, 2, args.join(' ') || '(no arguments)')
    }
    const bad = await gatehouse(['users', 'set-role', email, 'root'], env, cwd)
    t.match(bad.stderr, 'role must be one of user, admin (got "root")')
    for (const args of [['users', 'set-role', email.replace('@', '\u0001@'), 'admin'], ['users', 'delete', `${email}\n`], ['sessions', 'list', '--user', `\u007f${email}`]]) {
      const odd = await gatehouse(args, env, cwd)
      t.equal(odd.code, 2, `${JSON.stringify(args)}: bad usage`)
      t.match(odd.stderr, 'is not an email: it holds a control character')
    }
  })

  t.test('--help exits 0', async (t) => {
    const res = await gatehouse(['--help'], env, cwd)
    t.equal(res.code, 0)
    t.match(res.stdout, 'users set-role <email> <user|admin>')
  })

  t.test('failures exit 1 with one line', async (t) => {
    const unknown = await gatehouse(['users', 'set-role', 'nobody@example.invalid', 'admin'], env, cwd)
    t.equal(unknown.code, 1)
    t.equal(unknown.stderr.trim(), 'gatehouse: no user with email nobody@example.invalid')
    const badConfig = await gatehouse(['users', 'set-role', email, 'user'], { ...env, REDIS_URL: 'http://nope' }, cwd)
    t.equal(badConfig.code, 1)
    t.match(badConfig.stderr, /^gatehouse: Invalid configuration: REDIS_URL/)
    const noRedis = await gatehouse(['users', 'set-role', email, 'user'], { ...env, REDIS_URL: 'redis://127.0.0.1:1' }, cwd)
    t.equal(noRedis.code, 1)
    t.match(noRedis.stderr, /^gatehouse: cannot reach Redis at redis:\/\/127.0.0.1:1/)
  })
})

t.test('gatehouse users set-role: a user deleted between the lookup and the change is a failure, not a success', async (t) => {
  // A database of the test's own: its trigger must not touch the other tests' users.
  const name = `gatehouse_cli_${uniqueId()}`
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  t.teardown(() => sql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  await migrate(url.toString())
  const config = testConfig({ DATABASE_URL: url.toString() })
  const redis = adminClient(config)
  t.teardown(async () => {
    await deleteKeys(redis, config.redisKeyPrefix)
    redis.disconnect()
  })
  const email = `${uniqueId()}@deleted-meanwhile.test.gatehouse`
  await sql("INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES (gen_random_uuid(), $1, 'x', now(), now())", [email], url.toString())
  // The row goes just as the role change reaches it: an admin deleting the user meanwhile.
  await sql(`CREATE FUNCTION deleted_meanwhile() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM users WHERE id = OLD.id; RETURN NULL; END $$;
    CREATE TRIGGER deleted_meanwhile BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION deleted_meanwhile();`, [], url.toString())

  const res = await gatehouse(['users', 'set-role', email, 'admin'], cliEnv(config), t.testdir({}))
  t.equal(res.code, 1, res.stdout)
  t.equal(res.stderr.trim(), `gatehouse: no user with email ${email}`, 'said as for any user that is not there')
  t.equal(res.stdout, '', 'and no success printed')
  t.same(await sql('SELECT id FROM users', [], url.toString()), [], 'the user is gone indeed')
})

t.test('gatehouse users delete', async (t) => {
  const ctx = await buildTestApp(t)
  const cwd = t.testdir({})
  const env = cliEnv(ctx.config)
  const { email, token, user } = await newSession(ctx)
  const second = (await login(ctx.app, email)).token
  const bystander = await newSession(ctx)

  const res = await gatehouse(['users', 'delete', email.toUpperCase()], env, cwd)
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, new RegExp(`^${email.replace(/[.]/g, '\\.')}: deleted, 2 session\\(s\\) ended \\(by cli `))
  for (const each of [token, second]) t.equal((await me(ctx.app, `Token token=${each}`)).statusCode, 401, 'its sessions are over')
  t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: 'correct horse battery' } })).statusCode, 401, 'and it cannot log in')
  t.same(await sql('SELECT id FROM users WHERE id = $1', [user.id]), [], 'the row is gone')
  const reasons = (await ctx.redis.xrange(`${ctx.config.redisKeyPrefix}events`, '-', '+')).map(([, f]) => f.join(' ')).filter((f) => f.includes('account-deleted'))
  t.equal(reasons.length, 2, 'two revoked events, reason account-deleted')
  t.equal((await me(ctx.app, `Token token=${bystander.token}`)).statusCode, 200, 'other users are untouched')
  const known = `${ctx.config.redisKeyPrefix}throttle:known_networks:${createHash('sha256').update(email).digest('base64url')}`
  t.equal(await ctx.redis.exists(known), 0, 'and a later account with the same email starts with no known networks')

  const again = await gatehouse(['users', 'delete', email], env, cwd)
  t.equal(again.code, 1)
  t.equal(again.stderr.trim(), `gatehouse: no user with email ${email}`)
})
