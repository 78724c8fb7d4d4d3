import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { sql } from '../helpers/db.js'
import { me, newSession } from '../helpers/http.js'
import { cliEnv, gatehouse } from './run-cli.js'

// Who `gatehouse sessions list|revoke --user` names: an email, or a user id in its one spelling;
// and how many sessions `sessions list` shows.

t.test('gatehouse sessions --user and --limit', async (t) => {
  const ctx = await buildTestApp(t)
  const cwd = t.testdir({})
  const env = cliEnv(ctx.config)
  const { email, user } = await newSession(ctx)

  t.test('--limit is a whole number from 1 to 10000, and only for sessions list', async (t) => {
    for (const limit of ['0', '10001', 'ten', '-1']) t.equal((await gatehouse(['sessions', 'list', '--user', email, '--limit', limit], env, cwd)).code, 2, `--limit ${limit}`)
    t.equal((await gatehouse(['ttl', 'get', '--limit', '5'], env, cwd)).code, 2, '--limit only with sessions list')
  })

  t.test('--user takes a user id as the API writes it, and only so', async (t) => {
    const listed = await gatehouse(['sessions', 'list', '--user', user.id], env, cwd)
    t.equal(listed.code, 0, listed.stderr)
    t.match(listed.stdout, `${email}: 1 live session(s)`)
    for (const spelling of [user.id.toUpperCase(), `urn:uuid:${user.id}`, `{${user.id}}`, ` ${user.id}`, user.id.replaceAll('-', '')]) {
      const res = await gatehouse(['sessions', 'revoke', '--user', spelling], env, cwd)
      t.equal(res.code, 2, JSON.stringify(spelling))
      t.match(res.stderr, '--user takes an email or a user id as the API writes it')
    }
    t.match((await gatehouse(['sessions', 'list', '--user', user.id], env, cwd)).stdout, '1 live session(s)', 'none of them ended anything')
  })

  t.test('by id, the sessions of an account deleted by hand (not through the CLI) can still be ended', async (t) => {
    const gone = await newSession(ctx)
    await sql('DELETE FROM users WHERE id = $1', [gone.user.id])
    t.equal((await me(ctx.app, `Token token=${gone.token}`)).statusCode, 200, 'its session still answers from Redis (docs/ops.md, "Deleting an account")')
    const res = await gatehouse(['sessions', 'revoke', '--user', gone.user.id], env, cwd)
    t.equal(res.code, 0, res.stderr)
    t.match(res.stdout, `user ${gone.user.id} (no account): 1 session(s) ended`)
    t.equal((await me(ctx.app, `Token token=${gone.token}`)).statusCode, 401)
  })
})
