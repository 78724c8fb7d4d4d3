import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { buildApp } from './app.js'
import { loadConfig } from './config/index.js'
import { withDotEnv } from './config/dotenv.js'
import { checkDependencies } from './startup/preflight.js'
import { migrate } from './db/migrate.js'
import { openLogStream } from './log-stream.js'
import { StartupError } from './shared/startup-error.js'

// `npm start`: read the configuration (environment over .env over defaults), make sure Redis and
// PostgreSQL answer (or open the embedded database), apply pending migrations, then listen. Any
// start-up problem is one clear line on stderr and a non-zero exit, never a hang.

/** Writes out the log lines still buffered, so that a start-up failure's one line comes last. */
let flushLogs = (): void => {}

async function main (): Promise<void> {
  const { config, warnings } = loadConfig(withDotEnv(process.env))
  // One stream and one format (LOG_FORMAT) for every line, those before the app is built included.
  const logs = await openLogStream(config)
  flushLogs = () => {
    try {
      (logs.stream as { flushSync?: () => void }).flushSync?.()
    } catch {} // a stream not yet open has nothing buffered
  }
  const startupLog = pino({ level: config.logLevel }, logs.stream)
  await checkDependencies(config)
  // The embedded database is migrated as it opens, inside buildApp (plugins/database.ts).
  if (config.database.mode === 'postgres') await migrate(config.database.url, { log: (message) => startupLog.info(message) })

  const app = await buildApp(config, { migrateLegacySessions: true, logger: { stream: logs.stream } })
  for (const warning of warnings) app.log.warn(warning)

  // SIGTERM (an orchestrator): /ready turns 503 at once and the server keeps serving for
  // SHUTDOWN_DRAIN_SECONDS, so load balancers stop routing here before it stops accepting; then
  // app.close() waits for the requests in flight and closes Redis, Postgres and the bcrypt
  // threads. SIGINT (a person at a terminal) skips the wait. Past `delay`, close-with-grace exits 1.
  const drainMs = config.shutdownDrainSeconds * 1000
  closeWithGrace({ delay: drainMs + 10_000 }, async ({ signal, err }) => {
    app.beginDraining()
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal, drainSeconds: signal === 'SIGTERM' ? config.shutdownDrainSeconds : 0 }, 'shutting down')
    if (signal === 'SIGTERM' && drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs))
    await app.close()
    app.log.info('closed: in-flight requests finished, connections closed')
  })
  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (err) {
    throw listenError(err, config.host, config.port)
  }
}

class ListenError extends StartupError {
  override name = 'ListenError'
}

/** The reasons a listen fails that the operator can fix, as one line; anything else as it is. */
function listenError (err: unknown, host: string, port: number): unknown {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE': return new ListenError(`cannot listen on ${where}: the port is in use by another process; stop it, or set PORT to a free port`)
    case 'EACCES': return new ListenError(`cannot listen on ${where}: not allowed to use this port (below 1024 needs privileges); set PORT to 1024 or above`)
    case 'EADDRNOTAVAIL': return new ListenError(`cannot listen on ${where}: no interface of this machine has that address; set HOST (0.0.0.0 for all)`)
    default: return err
  }
}

main().catch((err: unknown) => {
  flushLogs()
  // A problem the operator fixes says what to do in one line; anything else is a bug, with its stack.
  if (err instanceof StartupError) console.error(`gatehouse: ${err.message}`)
  else console.error('gatehouse: failed to start:', err)
  process.exit(1)
})
