import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { newSession } from '../helpers/http.js'
import { cliEnv, gatehouse } from './run-cli.js'

// A command loads only what it uses (src/cli/resources.ts opens each resource, and imports its
// module, on first use): the modules each command resolved, recorded by a preloaded hook.
const RECORDER = fileURLToPath(new URL('./record-modules.mjs', import.meta.url))

const HEAVY: Record<string, RegExp> = {
  Fastify: /\/node_modules\/(fastify|fastify-plugin|@fastify\/[^/]+)\//,
  'the server\'s plugins': /\/dist\/plugins\//,
  Prisma: /\/node_modules\/@prisma\/|\/dist\/generated\/prisma\/client\.js$/,
  'the pg driver': /\/node_modules\/pg\//,
  'bcrypt and its thread pool': /\/node_modules\/(bcryptjs|piscina)\//,
}

t.test('each command loads what it uses, and nothing of the server', async (t) => {
  const ctx = await buildTestApp(t)
  const cwd = t.testdir({})
  const { email } = await newSession(ctx)

  /** Runs the command; answers whether it loaded `what` (a key of HEAVY). */
  const loadedBy = async (t: Test, args: string[]) => {
    const file = join(cwd, `${args[0]}-${args[1]}.modules`)
    const res = await gatehouse(args, { ...cliEnv(ctx.config), NODE_OPTIONS: `--import=${RECORDER}`, GATEHOUSE_TEST_MODULES: file }, cwd)
    t.equal(res.code, 0, res.stderr)
    const modules = readFileSync(file, 'utf8').split('\n')
    t.ok(modules.some((url) => url.includes('/node_modules/ioredis/')), 'the record is real: ioredis is in it')
    return (what: string) => modules.some((url) => HEAVY[what]!.test(url))
  }

  t.test('ttl get: Redis only', async (t) => {
    const loaded = await loadedBy(t, ['ttl', 'get'])
    for (const what of Object.keys(HEAVY)) t.notOk(loaded(what), `not ${what}`)
  })

  t.test('users set-role: Postgres too, but nothing of the server nor of bcrypt (it sets no password)', async (t) => {
    const loaded = await loadedBy(t, ['users', 'set-role', email, 'user'])
    t.ok(loaded('Prisma'), 'Prisma')
    for (const what of ['Fastify', 'the server\'s plugins', 'bcrypt and its thread pool']) t.notOk(loaded(what), `not ${what}`)
  })
})
