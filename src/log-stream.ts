import pino, { type DestinationStream } from 'pino'
import { ConfigError } from './config/config-error.js'
import type { Config } from './config/index.js'

export type LogFormat = 'json' | 'pretty'

/**
 * Where the server's log lines go, in the one format LOG_FORMAT picks for the whole run: JSON
 * (jsonToStdout), or for a person at a terminal pino-pretty, written as it comes (so nothing is
 * lost on an exit).
 */
export async function openLogStream (config: Pick<Config, 'logFormat' | 'production'>, terminal = process.stdout.isTTY === true): Promise<{ stream: DestinationStream; format: LogFormat }> {
  const wanted = config.logFormat === 'auto' ? (terminal && !config.production ? 'pretty' : 'json') : config.logFormat
  if (wanted === 'pretty') {
    const pretty = await loadPinoPretty()
    if (pretty !== null) return { stream: pretty({ colorize: terminal, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true, sync: true }), format: 'pretty' }
    // auto on an install without development dependencies (an image): JSON, which it is made for.
    if (config.logFormat === 'pretty') throw new ConfigError('LOG_FORMAT', 'pretty needs pino-pretty, a development dependency, which is not installed here: npm install (with dev dependencies), or LOG_FORMAT=json')
  }
  return { stream: jsonToStdout(), format: 'json' }
}

/**
 * JSON lines to stdout, written asynchronously: under load, lines that arrive while a write is in
 * flight go out together in the next one, instead of one blocking write(2) per line
 * (docs/performance.md). pino flushes what is left when the process exits.
 */
export const jsonToStdout = (): DestinationStream => pino.destination({ dest: 1, sync: false })

type PinoPretty = (options: Record<string, unknown>) => DestinationStream

/** pino-pretty, loaded only when wanted: it is a development dependency, absent from a production install. */
async function loadPinoPretty (): Promise<PinoPretty | null> {
  // A name in a variable: TypeScript does not look for its types, which an install without
  // development dependencies lacks.
  const name = 'pino-pretty'
  try {
    const module = await import(name) as { default: PinoPretty }
    return module.default
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return null
    throw err
  }
}
