import { execFile } from 'node:child_process'
import { existsSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { npmPath, projectCopy } from '../helpers/project-copy.js'

// scripts/build.sh, run in a copy of the project (a fresh clone: nothing built), as `npm start` and
// `npm test` run it: the first build makes everything, a second with nothing changed makes nothing,
// and a change rebuilds the step that reads it and no other.

t.setTimeout(240_000)

const copy = projectCopy(t, { fresh: true })

/** Runs the build in the copy; resolves with the steps it ran (its `build: …` lines). */
function build (): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, FORCE_BUILD: '', PATH: npmPath() }
    execFile('sh', ['scripts/build.sh'], { cwd: copy, env, timeout: 180_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`build failed: ${stderr}`))
      else resolve(stdout.split('\n').filter((line) => line.startsWith('build: ')))
    })
  })
}

const inode = (path: string) => statSync(join(copy, path)).ino

t.test('a fresh clone builds every step, with its stamp inside its output', async (t) => {
  t.same(await build(), ['build: packages/session-reader', 'build: Prisma client', 'build: dist (src/)', 'build: console/dist'])
  for (const stamp of ['dist/.inputs', 'packages/session-reader/dist/.inputs', 'src/generated/prisma.inputs', 'console/dist/.inputs']) {
    t.match(readFileSync(join(copy, stamp), 'utf8'), /^[0-9a-f]{64}\n$/, `${stamp} holds the hash of its inputs`)
  }
  t.ok(existsSync(join(copy, 'dist/server.js')) && existsSync(join(copy, 'dist/sessions/scripts/includes')))
  t.notOk(existsSync(join(copy, 'dist.next')), 'no build folder is left behind')
})

t.test('with nothing changed, nothing is rebuilt', async (t) => {
  const before = [inode('dist'), inode('console/dist')]
  t.same(await build(), [])
  t.same([inode('dist'), inode('console/dist')], before, 'dist/ and console/dist are the same folders')
})

t.test('a file added to src/ rebuilds dist/ and nothing else', async (t) => {
  writeFileSync(join(copy, 'src/added-by-test.ts'), 'export const added = 1\n')
  t.same(await build(), ['build: dist (src/)'])
  t.ok(existsSync(join(copy, 'dist/added-by-test.js')))
})

t.test('a change to the console rebuilds only the console; to the schema, the client and dist/', async (t) => {
  const main = join(copy, 'console/src/main.ts')
  writeFileSync(main, `${readFileSync(main, 'utf8')}\n// changed by the test\n`)
  t.same(await build(), ['build: console/dist'])
  const schema = join(copy, 'prisma/schema.prisma')
  writeFileSync(schema, `${readFileSync(schema, 'utf8')}\n// changed by the test\n`)
  // And a removed file counts as a change (each rebuild of dist/ takes seconds: one for both).
  unlinkSync(join(copy, 'src/added-by-test.ts'))
  t.same(await build(), ['build: Prisma client', 'build: dist (src/)'], 'the regenerated client is an input of dist/')
  t.notOk(existsSync(join(copy, 'dist/added-by-test.js')), 'the removed file is gone from dist/')
})

t.test('a change to the reader\'s constants rebuilds the reader, dist/ and the console, which bundles them', async (t) => {
  const constants = join(copy, 'packages/session-reader/src/constants.ts')
  writeFileSync(constants, `${readFileSync(constants, 'utf8')}\n// changed by the test\n`)
  t.same(await build(), ['build: packages/session-reader', 'build: dist (src/)', 'build: console/dist'])
})
