import type { RedisClient } from '../redis/client.js'
import type { Log } from '../shared/log.js'

/**
 * The window in which tokens from before tokens were typed (`typ` JWT, no `iss`) still pass. It
 * closes by itself: the first start of this release records its end, that start plus
 * SESSION_MAX_AGE_SECONDS (Redis clock, Unix ms), as `untyped_tokens_until` in `<prefix>config`,
 * and every later start keeps it (HSETNX). Every such token has expired by then. Readers of the
 * contract read the same field, so they close it at the same moment (docs/session-contract.md).
 */
export const UNTYPED_UNTIL_FIELD = 'untyped_tokens_until'

/** How often a start that could not reach Redis tries to record the window again. */
const RETRY_MS = 2000

export interface UntypedWindow {
  /** Whether an untyped token may pass now. False until the window is known (fail closed). */
  isOpen(): boolean
  /** The window's end, Unix ms; 0 while unknown or closed by JWT_ACCEPT_UNTYPED=false. */
  until(): number
  /** Records (or reads) the window, retrying in the background while Redis is down; `stop` ends that. */
  start(): Promise<void>
  stop(): void
}

export interface UntypedWindowOptions {
  keyPrefix: string
  maxAgeSeconds: number
  /** JWT_ACCEPT_UNTYPED. False closes the window for Gatehouse and, through the field, every reader. */
  accept: boolean
  log: Log
}

export function createUntypedWindow (redis: RedisClient, { keyPrefix, maxAgeSeconds, accept, log }: UntypedWindowOptions): UntypedWindow {
  const configKey = `${keyPrefix}config`
  let until = 0
  let timer: NodeJS.Timeout | null = null
  let stopped = false

  async function record (): Promise<void> {
    if (!accept) {
      await redis.hset(configKey, UNTYPED_UNTIL_FIELD, '0')
      return
    }
    const [seconds, micros] = await redis.time()
    const end = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + maxAgeSeconds * 1000
    await redis.hsetnx(configKey, UNTYPED_UNTIL_FIELD, String(end))
    const recorded = await redis.hget(configKey, UNTYPED_UNTIL_FIELD)
    // Only digits count, as for every reader: anything else written by hand closes the window.
    until = recorded !== null && /^[0-9]{1,16}$/.test(recorded) ? Number(recorded) : 0
    log.info({ untypedTokensUntil: new Date(until).toISOString() }, until > Date.now() ? 'tokens from before tokens were typed pass until then' : 'tokens from before tokens were typed no longer pass')
  }

  function attempt (): Promise<void> {
    return record().catch((err: unknown) => {
      if (stopped) return
      log.warn({ err }, 'could not record the window for untyped tokens in Redis; they are refused until it is recorded')
      timer = setTimeout(() => { timer = null; void attempt() }, RETRY_MS)
      timer.unref()
    })
  }

  return {
    isOpen: () => accept && Date.now() < until,
    until: () => (accept ? until : 0),
    start: attempt,
    stop () {
      stopped = true
      if (timer) clearTimeout(timer)
      timer = null
    },
  }
}
