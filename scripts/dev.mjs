// npm run dev: the server, restarted within a second or two of a change to src/.
//
// On every change to src/, esbuild transpiles each of its files into dist-dev/ (no bundle: the same
// files tsc writes to dist/, in milliseconds, without type checking; `npm run typecheck` and the
// editor do that). After each build that succeeds, the files whose content changed are written and
// the server restarts: SIGINT (a person at a terminal: no drain), then, once the old one has exited
// (the port, the embedded database's lock), the new one. A build that fails leaves the server
// running as it was. dist-dev/ is not dist/, so tests and `npm start` never see a development build.
//
// Without DATABASE_URL, the embedded database is opened here, once, and the server is given its
// socket as DATABASE_URL: a restart then does not reopen PGlite (seconds), and `gatehouse` commands
// reach it through this process as they would through a server.
//
// First it runs scripts/build.sh, which builds what else the server reads, if it changed (the
// session reader, the Prisma client, the console): a change to those means starting this again.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { context } from 'esbuild'

execFileSync('sh', ['scripts/build.sh'], { stdio: 'inherit' })

const OUT = 'dist-dev'
let server = null
let stopping = false
/** The server's environment: with the embedded database's socket, when this process serves it. */
let serverEnv = null
let embedded = null

/** Opens the embedded database if the configuration asks for it (once, after the first build). */
async function openEmbeddedDatabase () {
  const load = (path) => import(pathToFileURL(resolve(OUT, path)).href)
  const [{ loadConfig }, { withDotEnv }, { openDatabase }] = await Promise.all([load('config/index.js'), load('config/dotenv.js'), load('db/open-database.js')])
  let config
  try {
    config = loadConfig(withDotEnv(process.env)).config
  } catch {
    return process.env // the server says what is wrong with it, in its one line
  }
  if (config.database.mode !== 'embedded') return process.env
  try {
    embedded = await openDatabase(config.database, { role: 'server', poolSize: config.databasePoolSize, log: (message) => console.error(`dev: ${message}`) })
  } catch (err) {
    console.error(`gatehouse: ${err.message}`)
    process.exit(1)
  }
  console.error(`dev: ${embedded.where}, served by npm run dev (pid ${process.pid}) across restarts`)
  return { ...process.env, DATABASE_URL: embedded.url }
}

function startServer () {
  const child = spawn(process.execPath, ['--enable-source-maps', `${OUT}/server.js`], { stdio: 'inherit', env: serverEnv })
  const exited = once(child, 'exit')
  server = { child, exited }
  exited.then(([code, signal]) => {
    if (server?.child !== child) return // stopped for a restart, or by Ctrl-C
    server = null
    console.error(`dev: the server exited (${signal ?? `code ${code}`}); waiting for a change to src/`)
  })
}

/** Stops the server with `signal`, unless it already has it (`alreadySent`: Ctrl-C, sent to the group). */
async function stopServer (signal, alreadySent = false) {
  const running = server
  server = null
  if (running === null) return
  // A second SIGINT would cut its close short; but if only this process got it, pass it on.
  let timer
  if (alreadySent) timer = setTimeout(() => running.child.kill(signal), 2000)
  else running.child.kill(signal)
  await running.exited
  clearTimeout(timer)
}

/** Writes the outputs whose content changed, and removes those of deleted files; returns how many. */
function writeChanged (outputFiles) {
  let changed = 0
  for (const { path, contents } of outputFiles) {
    let old = null
    try { old = readFileSync(path) } catch {}
    if (old !== null && Buffer.compare(old, contents) === 0) continue
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, contents)
    changed++
  }
  return changed + removeStale(outputFiles)
}

/** Removes what an earlier build wrote for a file since deleted or renamed: an import of it left
 * behind would run on that old build here, and fail only in `npm start`. Returns how many. */
function removeStale (outputFiles) {
  const wanted = new Set(outputFiles.map(({ path }) => path))
  let removed = 0
  for (const entry of readdirSync(OUT, { recursive: true, withFileTypes: true })) {
    const path = resolve(entry.parentPath, entry.name)
    if (entry.isFile() && !wanted.has(path)) {
      rmSync(path)
      removed++
    }
  }
  return removed
}

rmSync(OUT, { recursive: true, force: true })
const esbuild = await context({
  // The .js files (the bcrypt worker, the embedded initdb) and the Lua scripts are read beside
  // their modules, as in dist/.
  entryPoints: ['src/**/*.ts', 'src/**/*.js', 'src/**/*.lua'],
  outdir: OUT,
  outbase: 'src',
  loader: { '.lua': 'copy' },
  platform: 'node',
  format: 'esm',
  // The oldest Node.js Gatehouse supports: package.json's engines floor, its one home.
  target: `node${/\d+/.exec(JSON.parse(readFileSync('package.json', 'utf8')).engines.node)[0]}`,
  sourcemap: 'linked',
  write: false,
  logLevel: 'warning',
})

/** Builds src/; if that worked and changed something, restarts the server on it. */
async function buildAndRestart () {
  let result
  try {
    result = await esbuild.rebuild()
  } catch {
    console.error('dev: the build failed (above); the server runs on as it was')
    return
  }
  // A change esbuild writes out the same (a comment, a type) restarts nothing.
  if (stopping || (writeChanged(result.outputFiles) === 0 && server !== null)) return
  await stopServer('SIGINT')
  serverEnv ??= await openEmbeddedDatabase()
  startServer()
}

// One build at a time; changes that arrive during one are built, together, right after it.
let building = false
let again = false
async function onChange () {
  if (building) {
    again = true
    return
  }
  building = true
  do {
    again = false
    await buildAndRestart()
  } while (again && !stopping)
  building = false
}

// fs.watch, not esbuild's watch mode: esbuild polls (a change can take a second or two to be
// noticed) and deletes the outputs of a build that fails. 50 ms gathers the writes of one save
// (or of a git checkout) into one build.
let settle
watch('src', { recursive: true }, () => {
  clearTimeout(settle)
  settle = setTimeout(onChange, 50)
})
await onChange()

// Ctrl-C reaches the whole process group: the server stops by itself. A SIGTERM from elsewhere
// (a process manager) is passed on, and the server drains as it does under one.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return
    stopping = true
    await esbuild.dispose()
    await stopServer(signal, signal === 'SIGINT')
    await embedded?.close()
    process.exit(0)
  })
}
