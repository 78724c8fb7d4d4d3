import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { cliEnv, gatehouse } from '../cli/run-cli.js'
import { sql } from '../helpers/db.js'
import { login, me, signUp } from '../helpers/http.js'
import { scanKeys } from '../helpers/redis.js'
import { expectBounded, MANY, manySessions } from './many-sessions.js'

t.test(`the CLI on a user with ${MANY} sessions: sessions list, then users delete`, async (t) => {
  const world = await manySessions(t)
  const { ctx } = world
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  const { token } = await login(ctx.app, email)
  await world.populate(user)
  const env = cliEnv(ctx.config)
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'))

  expectBounded(t, await world.watch(async () => {
    const listed = await gatehouse(['sessions', 'list', '--user', email, '--limit', '250'], env, cwd)
    t.equal(listed.code, 0, listed.stderr)
    t.match(listed.stdout, /250 live session\(s\), newest first; more may follow \(--limit 250\)/)
    t.equal(listed.stdout.trim().split('\n').length, 252, 'a header line, a column line and 250 sessions')
  }), 'gatehouse sessions list')

  expectBounded(t, await world.watch(async () => {
    const deleted = await gatehouse(['users', 'delete', email], env, cwd)
    t.equal(deleted.code, 0, deleted.stderr)
    t.match(deleted.stdout, new RegExp(`deleted, ${MANY + 1} session\\(s\\) ended`))
  }), 'gatehouse users delete')
  t.same(await sql('SELECT id FROM users WHERE id = $1', [user.id]), [], 'the account is gone')
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401, 'and so are its sessions')
  t.same(await scanKeys(ctx.redis, `${ctx.config.redisKeyPrefix}sess:{${user.id}}`), [])
})
