import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_REDIS_URL } from '../helpers/config.js'
import { newSession } from '../helpers/http.js'
import { sleep } from '../helpers/wait.js'

// The library as another team gets it: packed (npm pack) from a copy of packages/session-reader
// with no build in it, installed from its tarball into an empty TypeScript project, and the two
// examples of its README, taken from the README's own text, compiled under strict and run
// against a live Gatehouse that signs with EdDSA.

t.setTimeout(420_000) // two npm runs and two compilations, each bounded below

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PACKAGE = join(ROOT, 'packages/session-reader')

/** A command that must succeed within `timeout`; its output on failure. */
function run (command: string, args: string[], options: { cwd: string, timeout: number, env?: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { ...options, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed (${err.message}):\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

/** The fenced ```ts block right under `## <heading>` in the README: the example as its readers copy it. */
function example (readme: string, heading: string): string {
  const match = new RegExp(`^## ${heading}\\n\\n\`\`\`ts\\n([\\s\\S]*?)\\n\`\`\`\\n`, 'm').exec(readme)
  if (!match) throw new Error(`README: no \`\`\`ts block under "## ${heading}"`)
  return match[1]!
}

/** The versions Gatehouse itself is built and tested with (package-lock.json). */
async function lockedVersions (names: string[]): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> }
  return names.map((name) => `${name}@${lock.packages[`node_modules/${name}`]?.version ?? 'latest'}`)
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Starts a compiled example; resolves once it answers HTTP. Killed at teardown, and after 60 s whatever happens. */
async function start (t: Test, file: string, cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, [file], { cwd, env: { ...env, PORT: String(port) }, timeout: 60_000, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (chunk) => { output += chunk })
  child.stderr!.on('data', (chunk) => { output += chunk })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => { child.kill('SIGKILL'); await exited })
  const base = `http://127.0.0.1:${port}`
  for (const deadline = Date.now() + 20_000; ; await sleep(100)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${file} exited: ${output}`)
    try {
      await fetch(`${base}/chat`, { signal: AbortSignal.timeout(2000) })
      return base
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${file} did not answer within 20 s (${String(err)}): ${output}`)
    }
  }
}

const STRICT = {
  target: 'ES2022',
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: false,
  skipLibCheck: false,
  types: ['node'],
  noEmitOnError: true,
}

t.test('packed from a clean copy, installed into an empty TypeScript project: the README examples compile and serve a live session', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'reader-install-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  // A clean copy of the package, where a fresh clone has it: beside the repository's installed
  // dependencies (the workspace root's node_modules), with no dist/ of any earlier build.
  const copy = join(dir, 'repo/packages/session-reader')
  await cp(PACKAGE, copy, { recursive: true, filter: (source) => !/[/\\](dist|dist\.next|node_modules)$|\.tgz$/.test(source) })
  await symlink(join(ROOT, 'node_modules'), join(dir, 'repo/node_modules'), 'dir')
  t.notOk(existsSync(join(copy, 'dist')), 'no build in the copy')

  await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: copy, timeout: 120_000 })
  const tarball = (await readdir(dir)).find((name) => name.endsWith('.tgz'))
  if (!tarball) throw new Error('npm pack wrote no tarball')
  const listing = await run('tar', ['-tzf', join(dir, tarball)], { cwd: dir, timeout: 30_000 })
  for (const file of ['index.js', 'index.d.ts', 'reader.js', 'keys.js', 'local-keys.js', 'local-keys.d.ts', 'remote-keys.js', 'remote-keys.d.ts', 'fastify.js', 'fastify.d.ts', 'express.js', 'express.d.ts', 'constants.js', 'constants.d.ts']) {
    t.ok(listing.includes(`package/dist/${file}\n`), `the tarball has dist/${file}: prepack built it`)
  }
  t.notOk(/package\/node_modules\//.test(listing), 'and nothing of node_modules')

  // What a consumer's compiler reads: express.d.ts must not need express, nor index.d.ts fastify.
  const dist = join(copy, 'dist')
  const manifest = JSON.parse(await readFile(join(copy, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  for (const file of (await readdir(dist)).filter((name) => /\.(js|d\.ts)$/.test(name))) {
    const source = await readFile(join(dist, file), 'utf8')
    for (const [, specifier] of source.matchAll(/^(?:import|export) .* from '([^']+)'/gm)) {
      const allowed = specifier!.startsWith('./') || specifier!.startsWith('node:') ||
        (file.endsWith('.d.ts') ? file === 'fastify.d.ts' && specifier === 'fastify' : specifier! in manifest.dependencies)
      t.ok(allowed, `${file} imports ${specifier}`)
    }
  }

  const service = join(dir, 'service')
  await mkdir(service)
  await writeFile(join(service, 'package.json'), JSON.stringify({ name: 'a-service', private: true, type: 'module' }))
  const others = await lockedVersions(['fastify', 'express', '@types/express', '@types/node', 'typescript', 'ioredis'])
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball), ...others], { cwd: service, timeout: 240_000 })

  const readme = await readFile(join(PACKAGE, 'README.md'), 'utf8')
  await writeFile(join(service, 'fastify-example.ts'), example(readme, 'Fastify'))
  await writeFile(join(service, 'express-example.ts'), example(readme, 'Express'))
  // Beyond the examples: how the session is typed on each request, and the refused option.
  await writeFile(join(service, 'types.ts'), `
    import type { Request } from 'express'
    import type { FastifyRequest } from 'fastify'
    import type { LiveSession, SessionSnapshot, VerificationKeys } from '@gatehouse/session-reader'
    import { createLocalKeySet, type Verified } from '@gatehouse/session-reader/local-keys'
    import { createRemoteKeySet } from '@gatehouse/session-reader/remote-keys'
    import '@gatehouse/session-reader/express'
    import '@gatehouse/session-reader/fastify'
    export const onExpress = (req: Request): string | undefined => req.gatehouse?.userId
    export const onFastify = (request: FastifyRequest): LiveSession | null => request.gatehouse
    // The renamed type, and its deprecated old name for the same thing.
    export const snapshot = (request: FastifyRequest): SessionSnapshot | null => onFastify(request)
    // The two halves of the keys, alone: the local one answers at once, the JWKS one in a promise.
    export const local = (token: string): Verified => createLocalKeySet({ publicKeys: [] }).verify(token)
    export const remote = (token: string): Promise<Verified> => createRemoteKeySet({ jwksUrl: 'https://auth.example.com/.well-known/jwks.json' }).verify(token)
    // @ts-expect-error absent on a route the middleware does not guard: never typed as present
    export const unguarded = (req: Request): string => req.gatehouse.userId
    // @ts-expect-error null on a route without the hook
    export const unhooked = (request: FastifyRequest): string => request.gatehouse.userId
    // @ts-expect-error the shared secret only under its unsafe name
    export const old: VerificationKeys = { secrets: ['x'.repeat(32)] }
    export const unsafe: VerificationKeys = { unsafeSharedSecrets: ['x'.repeat(32)], publicKeys: ['-----BEGIN PUBLIC KEY-----'] }
  `)
  await writeFile(join(service, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...STRICT, outDir: 'out' }, files: ['fastify-example.ts', 'express-example.ts', 'types.ts'] }))
  const tsc = join(service, 'node_modules/typescript/bin/tsc')
  // One compilation both checks and emits: noEmitOnError makes a type error fail it with nothing written.
  await run(process.execPath, [tsc, '-p', '.'], { cwd: service, timeout: 120_000 })
  t.pass('the README examples type-check under strict, with @types/express and fastify installed')

  // A service on node:http alone (no express, no @types/express): the Express entry point compiles.
  const bare = join(dir, 'bare')
  await mkdir(join(bare, 'node_modules/@types'), { recursive: true })
  await mkdir(join(bare, 'node_modules/@gatehouse'))
  await symlink(join(service, 'node_modules/@gatehouse/session-reader'), join(bare, 'node_modules/@gatehouse/session-reader'), 'dir')
  await symlink(join(service, 'node_modules/@types/node'), join(bare, 'node_modules/@types/node'), 'dir')
  await symlink(join(service, 'node_modules/undici-types'), join(bare, 'node_modules/undici-types'), 'dir') // @types/node's own dependency
  await writeFile(join(bare, 'package.json'), JSON.stringify({ name: 'a-bare-service', private: true, type: 'module' }))
  await writeFile(join(bare, 'server.ts'), `
    import { createServer } from 'node:http'
    import type { SessionReader } from '@gatehouse/session-reader'
    import { gatehouseSessions, sessionOf } from '@gatehouse/session-reader/express'
    export function serve (reader: SessionReader) {
      const guard = gatehouseSessions({ reader })
      return createServer((req, res) => guard(req, res, () => { res.end(sessionOf(req).userId) }))
    }
  `)
  await writeFile(join(bare, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...STRICT, noEmit: true, preserveSymlinks: true }, files: ['server.ts'] }))
  t.notOk(existsSync(join(bare, 'node_modules/express')) || existsSync(join(bare, 'node_modules/@types/express')), 'no express there')
  await run(process.execPath, [tsc, '-p', '.'], { cwd: bare, timeout: 120_000 })
  t.pass('the Express entry point type-checks without express installed')

  // A live Gatehouse on EdDSA; the examples get its JWKS URL, its Redis and its prefix from the environment.
  const signing = generateKeyPairSync('ed25519')
  const ctx = await buildTestApp(t, { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: signing.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const jwksUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}/.well-known/jwks.json`
  const { user, token } = await newSession(ctx)
  const env = { PATH: process.env.PATH, NODE_ENV: 'development', REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix, GATEHOUSE_JWKS_URL: jwksUrl }

  for (const name of ['fastify-example', 'express-example']) {
    const base = await start(t, join(service, `out/${name}.js`), service, env)
    const ask = async (authorization?: string) => {
      const res = await fetch(`${base}/chat`, { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(10_000) })
      return { status: res.status, body: await res.json() as unknown }
    }
    t.same(await ask(`Token token=${token}`), { status: 200, body: { user: user.id } }, `${name}: a live token`)
    t.same(await ask(`Bearer ${token}`), { status: 200, body: { user: user.id } }, `${name}: as a Bearer token`)
    t.match(await ask(`Token token=${token.slice(0, -4)}AAAA`), { status: 401, body: { error: 'invalid_token' } }, `${name}: a forged signature`)
    t.match(await ask('Token token=not-a-token'), { status: 401, body: { error: 'invalid_token' } }, `${name}: garbage`)
    t.match(await ask(), { status: 401, body: { error: 'missing_token' } }, `${name}: no token`)
  }
})
