import { execFile } from 'node:child_process'
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

// scripts/pinned-node.sh on a machine whose Node.js is older than .node-version: it prints the bin
// folder of the pinned one, installed in a cache folder. A cache an interrupted install left broken
// (bin/node there, executable, but truncated) must not be handed to CI as if it were Node.js.

t.setTimeout(60_000)

const ROOT = new URL('../..', import.meta.url).pathname
const want = readFileSync(join(ROOT, '.node-version'), 'utf8').trim()
const pkg = `node-${process.platform === 'darwin' ? 'darwin' : 'linux'}-${process.arch === 'arm64' ? 'arm64' : 'x64'}`

/** A PATH whose `node` says it is Node.js 20 when asked its version, and is this one otherwise (npm). */
function olderNodeOnPath (dir: string): string {
  const bin = join(dir, 'old-node-bin')
  mkdirSync(bin)
  writeFileSync(join(bin, 'node'), `#!/bin/sh\nif [ "$1" = -p ]; then echo 20.19.0; exit 0; fi\nexec ${process.execPath} "$@"\n`)
  chmodSync(join(bin, 'node'), 0o755)
  return `${bin}:${process.env.PATH ?? ''}`
}

function run (env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', [join(ROOT, 'scripts/pinned-node.sh')], { env: { ...process.env, ...env }, timeout: 50_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

t.test('a cache whose node does not run is installed again, not printed; an unreachable registry fails clearly', async (t) => {
  const dir = t.testdir({})
  const home = join(dir, 'cache')
  const bin = join(home, 'node_modules', pkg, 'bin')
  mkdirSync(bin, { recursive: true })
  // The first 4 KB of a real Node.js: what a download cut short leaves.
  const head = Buffer.alloc(4096)
  const fd = openSync(process.execPath, 'r')
  readSync(fd, head, 0, head.length, 0)
  closeSync(fd)
  writeFileSync(join(bin, 'node'), head, { mode: 0o755 })

  const result = await run({
    PATH: olderNodeOnPath(dir),
    GATEHOUSE_NODE_HOME: home,
    // No registry: the reinstall fails at once, and the test downloads nothing.
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_fetch_retries: '0',
  })
  t.not(result.code, 0, 'it exits non-zero')
  t.notMatch(result.stdout, new RegExp(`${pkg}/bin`), 'and prints no bin folder for PATH')
  t.match(result.stderr, new RegExp(`pinned-node: could not install ${pkg}@${want.replace(/\./g, '\\.')}`), 'it says what it could not install')
})

t.test('a cache whose node runs the pinned version is used as it is', async (t) => {
  const dir = t.testdir({})
  const home = join(dir, 'cache')
  const bin = join(home, 'node_modules', pkg, 'bin')
  mkdirSync(bin, { recursive: true })
  writeFileSync(join(bin, 'node'), `#!/bin/sh\necho v${want}\n`, { mode: 0o755 })
  const result = await run({ PATH: olderNodeOnPath(dir), GATEHOUSE_NODE_HOME: home, npm_config_registry: 'http://127.0.0.1:9/' })
  t.equal(result.code, 0)
  t.equal(result.stdout, `${bin}\n`)
})
