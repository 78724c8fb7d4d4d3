import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { npmPath, projectCopy } from '../helpers/project-copy.js'
import { eventually } from '../helpers/wait.js'

// Two builds at once in one clone (`npm start` in one terminal, `npm test` in another): both build
// into the same dist.next/, and one removes it while the other writes or swaps it in (a build that
// fails, or a moment with no dist/ at all). The second waits for the first, then finds it up to date.

t.setTimeout(240_000)

function startBuild (copy: string) {
  const child = spawn('sh', ['scripts/build.sh'], { cwd: copy, env: { ...process.env, FORCE_BUILD: '', PATH: npmPath() } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const code = new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { child, code, stdout: () => stdout, stderr: () => stderr, steps: () => stdout.split('\n').filter((line) => line.startsWith('build: ')) }
}

t.test('a build started while another runs waits for it, and then has nothing to build', async (t) => {
  const copy = projectCopy(t, { fresh: false })
  writeFileSync(join(copy, 'src/added-by-test.ts'), 'export const added = 1\n')
  const first = startBuild(copy)
  t.teardown(() => first.child.kill('SIGKILL'))
  await eventually(60_000, () => first.steps().includes('build: dist (src/)'))
  const second = startBuild(copy)
  t.teardown(() => second.child.kill('SIGKILL'))
  t.equal(await first.code, 0, 'the first build succeeds', { stderr: first.stderr() })
  t.equal(await second.code, 0, 'and so does the second', { stderr: second.stderr() })
  t.match(second.stderr(), new RegExp(`^build: waiting for the build that runs \\(pid ${first.child.pid}\\)`, 'm'), 'which says it waits')
  t.same(second.steps(), [], 'and builds nothing: the first built what it would have')
})
