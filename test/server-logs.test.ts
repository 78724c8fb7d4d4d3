import t, { type Test } from 'tap'
import { uniqueId } from './helpers/config.js'
import { sql, TEST_DATABASE_URL } from './helpers/db.js'
import { exited, launch, listening, ownPrefix } from './server-process.js'

// LOG_FORMAT: every line of a run in one format, the start-up lines before the app exists
// (PostgreSQL's migrations) included. pino-pretty is a development dependency; where it is not
// installed (an image), `pretty` is refused in one line.

/** A server on a database of its own, new, so that it logs creating and migrating it. */
async function startOnNewDatabase (t: Test, env: Record<string, string>) {
  const name = `gatehouse_logs_${uniqueId()}`
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  t.teardown(() => sql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  const started = launch('node', ['dist/server.js'], { DATABASE_URL: url.href, REDIS_KEY_PREFIX: ownPrefix(t), ...env })
  t.teardown(() => { if (started.proc.exitCode === null && started.proc.signalCode === null) process.kill(-started.proc.pid!, 'SIGKILL') })
  return started
}

const lines = (output: string) => output.split('\n').filter((line) => line !== '')

t.test('json (and auto, off a terminal): every line is a JSON object, the migrations too', async (t) => {
  for (const format of ['json', 'auto']) {
    const started = await startOnNewDatabase(t, { LOG_FORMAT: format })
    await listening(started, 60_000)
    process.kill(started.proc.pid!, 'SIGTERM')
    t.equal(await exited(started, 15_000), 0)
    const logged = lines(started.output()).map((line) => JSON.parse(line) as { msg: string })
    t.match(logged.map(({ msg }) => msg), [/^created database gatehouse_logs_/, /^applied migration /], `${format}: the migrations are log lines`)
    t.ok(logged.some(({ msg }) => /^Server listening at/.test(msg)))
  }
})

t.test('pretty: readable lines, and no JSON among them', async (t) => {
  const started = await startOnNewDatabase(t, { LOG_FORMAT: 'pretty' })
  await listening(started, 60_000)
  process.kill(started.proc.pid!, 'SIGTERM')
  t.equal(await exited(started, 15_000), 0)
  const logged = lines(started.output())
  t.match(logged, [/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: created database gatehouse_logs_/, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: applied migration /])
  t.match(logged.at(-1), /INFO: closed: in-flight requests finished/)
  t.notOk(logged.some((line) => line.startsWith('{')), 'no line is JSON')
})

t.test('pretty without pino-pretty installed is one line and exit 1', async (t) => {
  const started = launch('node', ['--import', './test/helpers/without-pino-pretty.mjs', 'dist/server.js'], { LOG_FORMAT: 'pretty', REDIS_KEY_PREFIX: ownPrefix(t) })
  t.equal(await exited(started, 20_000), 1)
  t.same(lines(started.output()), ['gatehouse: Invalid configuration: LOG_FORMAT pretty needs pino-pretty, a development dependency, which is not installed here: npm install (with dev dependencies), or LOG_FORMAT=json'])
})
