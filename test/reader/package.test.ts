import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_JWT_SECRET, TEST_REDIS_URL } from '../helpers/config.js'
import { newSession } from '../helpers/http.js'

// "One npm install and a few lines": the package as npm would publish it (npm pack), installed
// alone into an empty project with ioredis, authenticates a user of a live Gatehouse.

const run = promisify(execFile)
const PACKAGE = fileURLToPath(new URL('../../packages/session-reader/', import.meta.url))

t.test('the packed library imports nothing it does not declare', async (t) => {
  const manifest = JSON.parse(await readFile(join(PACKAGE, 'package.json'), 'utf8'))
  const declared = new Set(Object.keys(manifest.dependencies))
  for (const file of (await readdir(join(PACKAGE, 'dist'))).filter((name) => name.endsWith('.js'))) {
    const source = await readFile(join(PACKAGE, 'dist', file), 'utf8')
    for (const [, specifier] of source.matchAll(/^import .* from '([^']+)'/gm)) {
      t.ok(specifier!.startsWith('./') || specifier!.startsWith('node:') || declared.has(specifier!), `${file}: ${specifier}`)
    }
  }
})

t.test('installed from its tarball into an empty project, it reads a live session', async (t) => {
  const ctx = await buildTestApp(t)
  const { user, token } = await newSession(ctx)
  const dir = await mkdtemp(join(tmpdir(), 'reader-install-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: PACKAGE, timeout: 60_000 })
  const tarball = join(dir, stdout.trim().split('\n').at(-1)!)
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'a-service', private: true, type: 'module' }))
  // From the registry (or npm's cache): what another team's `npm install` does.
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, 'ioredis@^5'], { cwd: dir, timeout: 180_000 })
  await writeFile(join(dir, 'service.js'), `
    import { Redis } from 'ioredis'
    import { createSessionReader } from '@gatehouse/session-reader'
    const redis = new Redis(process.env.REDIS_URL)
    const reader = createSessionReader({ redis, keyPrefix: process.env.PREFIX, keys: { secrets: [process.env.SECRET] } })
    const result = await reader.read(process.argv[2])
    console.log(JSON.stringify(result.live ? { userId: result.session.userId } : result))
    redis.disconnect()
  `)
  const env = { ...process.env, REDIS_URL: TEST_REDIS_URL, PREFIX: ctx.config.redisKeyPrefix, SECRET: TEST_JWT_SECRET }
  const live = await run('node', ['service.js', token], { cwd: dir, env, timeout: 30_000 })
  t.same(JSON.parse(live.stdout), { userId: user.id })
  const forged = await run('node', ['service.js', `${token.slice(0, -3)}AAA`], { cwd: dir, env, timeout: 30_000 })
  t.same(JSON.parse(forged.stdout), { live: false, reason: 'invalid_token' })
})
