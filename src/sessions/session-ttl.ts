import type { Log } from '../shared/log.js'
import type { ChainableCommander } from 'ioredis'
import type { RedisClient } from '../redis/client.js'
import { orUnavailable } from '../shared/errors.js'

/**
 * The sliding TTL in force, shared by every instance through Redis: the `<prefix>config` hash
 * (field `session_ttl_seconds`; see docs/session-contract.md). SESSION_TTL_SECONDS is only the
 * default while nothing is set there. Each instance re-reads it every REFRESH_MS and passes it to
 * the session scripts, so a change reaches every instance within a second with no restart, and
 * the hot path costs no extra round trip.
 */
export const CONFIG_FIELDS = {
  ttl: 'session_ttl_seconds',
  setBy: 'session_ttl_set_by',
  setAt: 'session_ttl_set_at',
} as const

/** Below one second, so a change is everywhere within one second (plus one Redis round trip). */
export const REFRESH_MS = 500

export interface TtlState {
  /** The TTL in force, seconds. */
  seconds: number
  /** 'override': set in Redis; 'default': SESSION_TTL_SECONDS. */
  source: 'override' | 'default'
  defaultSeconds: number
  /** The highest TTL that may be set: SESSION_MAX_AGE_SECONDS. */
  maxSeconds: number
  /** Who made the last change (set or reset), and when (Unix ms); null if nobody has. */
  setBy: string | null
  setAt: number | null
}

export interface TtlChange {
  before: TtlState
  after: TtlState
}

export interface SessionTtl {
  /** The highest TTL that may be set: SESSION_MAX_AGE_SECONDS. */
  readonly maxSeconds: number
  /** The TTL in force on this instance, seconds (no I/O: the last value read from Redis). */
  seconds(): number
  /** Reads the setting from Redis now. */
  read(): Promise<TtlState>
  /** Sets the TTL for every instance; `seconds` must already be valid (see parseTtl). */
  set(seconds: number, by: string): Promise<TtlChange>
  /** Back to SESSION_TTL_SECONDS. */
  reset(by: string): Promise<TtlChange>
  /** Starts re-reading the setting every REFRESH_MS; `stop` ends it. */
  start(): Promise<void>
  stop(): void
}

export class TtlValueError extends Error {}

const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }

/** "900", "900s", "15m", "2h", "1d" → seconds; throws TtlValueError with a message for a person. */
export function parseTtl (raw: string, maxSeconds: number): number {
  const value = raw.trim()
  const match = /^(\d{1,9})([smhd]?)$/.exec(value)
  if (!match) {
    if (/^-\s*\d/.test(value)) throw new TtlValueError(`the TTL must be positive (got "${raw}")`)
    throw new TtlValueError(`the TTL must be a whole number of seconds, or a duration like 90s, 15m, 2h or 1d (got "${raw}")`)
  }
  const seconds = Number(match[1]) * (UNITS[match[2] ?? ''] ?? 1)
  checkTtl(seconds, maxSeconds)
  return seconds
}

/** Throws TtlValueError unless 1 <= seconds <= maxSeconds. */
export function checkTtl (seconds: number, maxSeconds: number): void {
  if (!Number.isInteger(seconds)) throw new TtlValueError(`the TTL must be a whole number of seconds (got ${seconds})`)
  if (seconds < 1) throw new TtlValueError(`the TTL must be at least 1 second (got ${seconds})`)
  if (seconds > maxSeconds) {
    throw new TtlValueError(`the TTL must not exceed the absolute session lifetime, SESSION_MAX_AGE_SECONDS (${formatTtl(maxSeconds)}; got ${formatTtl(seconds)})`)
  }
}

/** 900 → "15m (900 s)". */
export function formatTtl (seconds: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit} (${seconds} s)`
  }
  return `${seconds} s`
}

export interface SessionTtlOptions {
  keyPrefix: string
  defaultSeconds: number
  maxSeconds: number
  log: Log
}

export function createSessionTtl (redis: RedisClient, { keyPrefix, defaultSeconds, maxSeconds, log }: SessionTtlOptions): SessionTtl {
  const configKey = `${keyPrefix}config`
  const fields = [CONFIG_FIELDS.ttl, CONFIG_FIELDS.setBy, CONFIG_FIELDS.setAt]
  let current = defaultSeconds
  let warnedAbout: string | null = null
  let timer: NodeJS.Timeout | null = null

  /** A value someone wrote by hand may be anything: it is used only if it is a valid TTL. */
  function stateOf ([ttl, setBy, setAt]: (string | null)[]): TtlState {
    const base = { defaultSeconds, maxSeconds, setBy: setBy ?? null, setAt: setAt ? Number(setAt) : null }
    if (ttl === null || ttl === undefined) return { ...base, seconds: defaultSeconds, source: 'default' }
    const seconds = /^\d{1,9}$/.test(ttl) ? Number(ttl) : Number.NaN
    try {
      checkTtl(seconds, maxSeconds)
    } catch (err) {
      if (warnedAbout !== ttl) log.warn({ key: configKey, field: CONFIG_FIELDS.ttl, value: ttl, reason: (err as Error).message }, 'ignoring an invalid session TTL in Redis; using the default')
      warnedAbout = ttl
      return { ...base, seconds: defaultSeconds, source: 'default' }
    }
    return { ...base, seconds, source: 'override' }
  }

  const read = () => orUnavailable('redis', async () => stateOf(await redis.hmget(configKey, ...fields)))

  /** Writes and reads back in one MULTI, so `before` is exactly what this change replaced. */
  async function change (write: (multi: ChainableCommander) => void): Promise<TtlChange> {
    return orUnavailable('redis', async () => {
      const multi = redis.multi().hmget(configKey, ...fields)
      write(multi)
      const results = (await multi.hmget(configKey, ...fields).exec()) ?? []
      const [before, after] = [results[0], results.at(-1)].map((r) => {
        if (!r || r[0]) throw r?.[0] ?? new Error('MULTI was discarded')
        return stateOf(r[1] as (string | null)[])
      }) as [TtlState, TtlState]
      current = after.seconds
      return { before, after }
    })
  }

  async function refresh (): Promise<void> {
    const state = await read()
    if (state.seconds !== current) {
      log.info({ oldTtlSeconds: current, newTtlSeconds: state.seconds, source: state.source, setBy: state.setBy }, 'session TTL changed')
      current = state.seconds
    }
  }

  return {
    maxSeconds,
    seconds: () => current,
    read,
    set: (seconds, by) => {
      checkTtl(seconds, maxSeconds)
      return change((multi) => multi.hset(configKey, CONFIG_FIELDS.ttl, String(seconds), CONFIG_FIELDS.setBy, by, CONFIG_FIELDS.setAt, String(Date.now())))
    },
    reset: (by) =>
      change((multi) => multi.hdel(configKey, CONFIG_FIELDS.ttl).hset(configKey, CONFIG_FIELDS.setBy, by, CONFIG_FIELDS.setAt, String(Date.now()))),
    async start () {
      // Starting with Redis down is allowed (requests get 503 until it is back): the default holds until then.
      await refresh().catch(() => {})
      const tick = () => {
        timer = setTimeout(() => { void refresh().catch(() => {}).finally(() => timer && tick()) }, REFRESH_MS)
        timer.unref()
      }
      tick()
    },
    stop () {
      if (timer) clearTimeout(timer)
      timer = null
    },
  }
}
