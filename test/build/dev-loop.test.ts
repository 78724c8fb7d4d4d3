import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { eventually } from '../helpers/wait.js'
import { exited, launch, ownPrefix } from '../server-process.js'
import { npmPath, projectCopy } from '../helpers/project-copy.js'

// npm run dev (scripts/dev.mjs), in a copy of the project so that its sources can change: a change
// to src/ restarts the server on it, a change that does not build leaves the server running, and
// Ctrl-C stops both. (How fast: measured, not asserted; see docs/development.md.)

t.setTimeout(120_000)

t.test('a change restarts the server; a broken one does not; Ctrl-C stops it all', async (t) => {
  const copy = projectCopy(t, { fresh: false })
  const dev = launch('node', ['scripts/dev.mjs'], { PATH: npmPath(), REDIS_KEY_PREFIX: ownPrefix(t) }, copy)
  t.teardown(() => { if (dev.proc.exitCode === null && dev.proc.signalCode === null) process.kill(-dev.proc.pid!, 'SIGKILL') })
  const servers = () => [...dev.output().matchAll(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/g)].map((match) => match[1]!)
  const answers = async (base: string) => (await fetch(`${base}/health`).catch(() => null))?.status === 200
  await eventually(60_000, () => servers().length === 1 || dev.proc.exitCode !== null)
  t.equal(servers().length, 1, 'the server starts')
  t.notMatch(dev.output(), /^build: /m, 'on a build that is up to date, build.sh rebuilds nothing')

  // PORT=0: each server has a port of its own, so "which one answers" is "which port answers".
  const file = join(copy, 'src/telemetry/metrics.ts')
  const original = readFileSync(file, 'utf8')
  writeFileSync(file, `${original}\nexport const changedByTheTest = 1\n`)
  await eventually(30_000, () => servers().length === 2)
  const [first, second] = servers() as [string, string]
  t.ok(await answers(second), 'the new server answers')
  t.notOk(await answers(first), 'the old one is gone')
  t.match(dev.output(), /"signal":"SIGINT","drainSeconds":0,"msg":"shutting down"/, 'stopped with SIGINT: no drain')

  writeFileSync(file, `${original}\nexport const broken = (\n`)
  await eventually(30_000, () => dev.output().includes('dev: the build failed'))
  t.equal(servers().length, 2, 'a change that does not build restarts nothing')
  t.ok(await answers(second), 'and the server runs on')

  writeFileSync(file, original)
  await eventually(30_000, () => servers().length === 3)
  t.ok(await answers(servers()[2]!), 'fixed: it restarts')

  // A file deleted from src/ is deleted from dist-dev/ too: an import of it left behind must fail
  // there, as it does in `npm start`, not run on the old build of it.
  const added = join(copy, 'src/added-by-test.ts')
  writeFileSync(added, 'export const added = 1\n')
  await eventually(30_000, () => existsSync(join(copy, 'dist-dev/added-by-test.js')))
  unlinkSync(added)
  // Both looked at in one go: the two are removed one after the other.
  const left = () => ['added-by-test.js', 'added-by-test.js.map'].filter((name) => existsSync(join(copy, 'dist-dev', name)))
  await eventually(15_000, () => left().length === 0)
  t.same(left(), [], 'a deleted file leaves dist-dev/, with its source map')

  process.kill(-dev.proc.pid!, 'SIGINT') // Ctrl-C: to the whole group
  t.not(await exited(dev, 20_000), null, 'npm run dev exits')
  t.notOk(await answers(servers()[2]!), 'and its server with it')
})

t.test('without DATABASE_URL, the embedded database is opened once and kept across restarts', async (t) => {
  const copy = projectCopy(t, { fresh: false })
  const dir = join(copy, '.gatehouse/db')
  const dev = launch('node', ['scripts/dev.mjs'], { PATH: npmPath(), REDIS_KEY_PREFIX: ownPrefix(t), DATABASE_URL: '', EMBEDDED_DATABASE_DIR: dir }, copy)
  t.teardown(() => { if (dev.proc.exitCode === null && dev.proc.signalCode === null) process.kill(-dev.proc.pid!, 'SIGKILL') })
  const servers = () => [...dev.output().matchAll(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/g)].map((match) => match[1]!)
  await eventually(90_000, () => servers().length === 1 || dev.proc.exitCode !== null)
  t.match(dev.output(), new RegExp(`dev: the embedded PostgreSQL \\(PGlite\\) in ${dir}, served by npm run dev \\(pid \\d+\\) across restarts`))
  const lock = JSON.parse(readFileSync(join(dir, 'lock.json'), 'utf8')) as { pid: number; role: string }
  t.equal(lock.role, 'server', 'npm run dev holds the lock as a server would, so commands go through it')

  const file = join(copy, 'src/telemetry/metrics.ts')
  writeFileSync(file, `${readFileSync(file, 'utf8')}\nexport const changedByTheTest = 1\n`)
  await eventually(30_000, () => servers().length === 2)
  t.equal((await fetch(`${servers()[1]!}/ready`)).status, 200, 'the new server reaches the database')
  t.equal((dev.output().match(/creating the embedded database/g) ?? []).length, 1, 'which was not reopened')
  t.equal(JSON.parse(readFileSync(join(dir, 'lock.json'), 'utf8')).pid, lock.pid, 'nor changed hands')

  process.kill(-dev.proc.pid!, 'SIGINT')
  t.not(await exited(dev, 20_000), null)
  t.throws(() => readFileSync(join(dir, 'lock.json')), { code: 'ENOENT' }, 'Ctrl-C closes it and lets go of the folder')
})
