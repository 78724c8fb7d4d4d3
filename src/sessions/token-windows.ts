import type { RedisClient } from '../redis/client.js'
import type { Log } from '../shared/log.js'

/**
 * Two windows in `<prefix>config` that bound which tokens still reach a session, recorded by the
 * first start that needs them and re-read every second by every instance, so that a change (ops,
 * another instance's JWT_ACCEPT_UNTYPED=false) reaches them all at once (docs/session-contract.md).
 *
 * - `untyped_tokens_until` (Unix ms, Redis clock): tokens from before tokens were typed (`typ`
 *   JWT, no `iss`) pass only before it. The first start of this release writes that start +
 *   SESSION_MAX_AGE_SECONDS (HSETNX): every such token has expired by then. JWT_ACCEPT_UNTYPED=false
 *   writes 0. Missing or not an integer: closed. Readers of the contract read the same field.
 * - `shared_secret_sessions_before` (Unix ms, Redis clock): the last moment any instance signed
 *   with an HS256 secret. While Gatehouse signs with a private key (EdDSA/RS256) and still verifies
 *   a former secret, a token of that secret reaches only the sessions created before it: whoever
 *   still holds the secret (a reader service, say) can forge nothing for a session created since.
 *   An instance that signs with HS256 keeps moving it ahead of its clock (every second, to 5 s
 *   ahead), so that during a rolling move every session it creates stays in reach; once the last
 *   such instance is gone it stays put. An instance that signs with a private key only records it
 *   if it is missing (HSETNX): a deployment that never signed with HS256 gives a former secret no
 *   session at all.
 */
const UNTYPED_UNTIL_FIELD = 'untyped_tokens_until'
const SHARED_SECRET_BEFORE_FIELD = 'shared_secret_sessions_before'

/** How often every instance re-reads the windows (and retries recording them while Redis is down). */
const REFRESH_MS = 1000
/** How far ahead of Redis' clock an HS256 instance keeps shared_secret_sessions_before: several missed ticks' worth. */
const HS256_LEAD_MS = 5000

export interface TokenWindows {
  /** Whether an untyped token may pass now. False until the window is known (fail closed). */
  untypedOpen(): boolean
  /** Sessions created at or after this (Unix ms) are out of reach of a former shared secret's tokens; 0 until known. */
  sharedSecretSessionsBefore(): number
  /** Records the windows (retried in the background while Redis is down), then re-reads them every second. */
  start(): Promise<void>
  /** Stops, once a read or write under way has ended (so that nothing is written after). */
  stop(): Promise<void>
}

export interface TokenWindowsOptions {
  keyPrefix: string
  maxAgeSeconds: number
  /** JWT_ACCEPT_UNTYPED. False closes the untyped window for Gatehouse and, through the field, every reader. */
  acceptUntyped: boolean
  /** Whether Gatehouse signs with a private key (EdDSA/RS256) rather than an HS256 secret. */
  signsWithPrivateKey: boolean
  log: Log
}

/** Only digits count, as for every reader: anything else written by hand closes a window. */
const msOf = (value: string | null | undefined): number => (value !== null && value !== undefined && /^[0-9]{1,16}$/.test(value) ? Number(value) : 0)

export function createTokenWindows (redis: RedisClient, options: TokenWindowsOptions): TokenWindows {
  const { keyPrefix, maxAgeSeconds, acceptUntyped, signsWithPrivateKey, log } = options
  const configKey = `${keyPrefix}config`
  let recorded = false
  let untypedUntil = 0
  let sharedSecretBefore = 0
  let timer: NodeJS.Timeout | null = null
  let inFlight: Promise<void> | null = null
  let stopped = false

  /** Redis' clock, Unix ms: every instance and reader measures the windows against it. */
  async function redisNowMs (): Promise<number> {
    const [seconds, micros] = await redis.time()
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  }

  async function record (): Promise<void> {
    const now = await redisNowMs()
    if (acceptUntyped) await redis.hsetnx(configKey, UNTYPED_UNTIL_FIELD, String(now + maxAgeSeconds * 1000))
    else await redis.hset(configKey, UNTYPED_UNTIL_FIELD, '0')
    if (signsWithPrivateKey) await redis.hsetnx(configKey, SHARED_SECRET_BEFORE_FIELD, String(now)) // HS256: refresh moves it
    recorded = true
    await refresh()
    log.info({ untypedTokensUntil: new Date(untypedUntil).toISOString() }, untypedUntil > now ? 'tokens from before tokens were typed pass until then' : 'tokens from before tokens were typed no longer pass')
  }

  async function refresh (): Promise<void> {
    if (!signsWithPrivateKey) {
      await redis.hset(configKey, SHARED_SECRET_BEFORE_FIELD, String((await redisNowMs()) + HS256_LEAD_MS))
    }
    const [untyped, before] = await redis.hmget(configKey, UNTYPED_UNTIL_FIELD, SHARED_SECRET_BEFORE_FIELD)
    untypedUntil = msOf(untyped)
    sharedSecretBefore = msOf(before)
  }

  function tick (): void {
    if (stopped) return
    timer = setTimeout(() => {
      timer = null
      // While Redis is down the last values stand (requests get 503 meanwhile anyway).
      inFlight = (recorded ? refresh() : record())
        .catch((err: unknown) => { if (!recorded && !stopped) log.warn({ err }, 'could not record the token windows in Redis; retrying') })
        .finally(() => { inFlight = null; tick() })
    }, REFRESH_MS)
    timer.unref()
  }

  return {
    untypedOpen: () => acceptUntyped && Date.now() < untypedUntil,
    sharedSecretSessionsBefore: () => sharedSecretBefore,
    async start () {
      await record().catch((err: unknown) => log.warn({ err }, 'could not record the token windows in Redis; untyped tokens and former secrets are refused until they are'))
      tick()
    },
    async stop () {
      stopped = true
      if (timer) clearTimeout(timer)
      timer = null
      await inFlight
    },
  }
}
