import { randomUUID } from 'node:crypto'
import type { RedisClient } from '../redis/client.js'
import { periodic } from './periodic.js'
import type { Log } from '../shared/log.js'

/** What the console's charts count, a minute at a time, across every instance. */
const ACTIVITY_COUNTS = ['logins', 'failed_logins', 'throttled'] as const
export type ActivityCount = (typeof ACTIVITY_COUNTS)[number]

const MINUTE_MS = 60_000
/** The charts show the last hour: this minute and the 59 before it. */
export const ACTIVITY_MINUTES = 60
/** A minute's hash outlives the hour it is shown in, with room for clocks that differ a little. */
const KEEP_SECONDS = 2 * 3600
const DEFAULT_FLUSH_INTERVAL_MS = 5_000

/** The last hour, one entry per minute, oldest first; arrays of the same length (uPlot's shape). */
export interface ActivityHour {
  /** The start of each minute, Unix seconds. */
  minutes: number[]
  /** Session hashes counted in that minute; null where no instance counted them. */
  live_sessions: Array<number | null>
  logins: number[]
  failed_logins: number[]
  throttled: number[]
}

export interface Activity {
  /** Counts one event in the current minute: in memory, written to Redis at the next flush. */
  count(name: ActivityCount): void
  lastHour(): Promise<ActivityHour>
  /** Writes what is still counted, once; then counts no more (the app is closing). */
  close(): Promise<void>
}

export interface ActivityOptions {
  keyPrefix: string
  /** How many sessions are live now: a SCAN, done by one instance per minute (see `sample`). */
  countSessions: () => Promise<number>
  log: Pick<Log, 'warn'>
  flushIntervalMs?: number
  now?: () => number
}

/**
 * Per-minute counts for the ops console's charts, shared by every instance through Redis: one hash
 * per minute, `<prefix>activity:{activity}:<unix minute>`, kept two hours. Each instance adds its
 * counts every few seconds (HINCRBY, so instances add up) rather than on every login: a crash
 * costs a chart a few seconds of counts, never a request its latency; a write Redis refused is
 * tried again at the next flush.
 * The `{activity}` hash tag puts every minute in one Cluster slot, so the hour is read in one
 * pipeline. Not part of the session contract: other services should not read these keys.
 */
export function createActivity (redis: RedisClient, options: ActivityOptions): Activity {
  const { keyPrefix, countSessions, log } = options
  const now = options.now ?? Date.now
  const key = (minute: number) => `${keyPrefix}activity:{activity}:${minute}`
  const instance = randomUUID()
  const minuteOf = (ms: number) => Math.floor(ms / MINUTE_MS)

  // Counts not yet in Redis, by minute. Bounded: at most the last hour's minutes are kept when
  // Redis refuses writes (older ones could no longer be shown), each with three numbers.
  let pending = new Map<number, Map<ActivityCount, number>>()
  let closed = false
  let warned = false
  // The timer counts sessions from the next whole minute on, so an app that lives a few seconds
  // (a CLI, a test) never scans the keyspace; a console asking (lastHour) may have it counted sooner.
  const startMinute = minuteOf(now())
  // The last minute whose claim this instance has had answered (see `sample`).
  let lastSampled: number | null = null

  async function flush (): Promise<void> {
    const current = minuteOf(now())
    const batch = pending
    pending = new Map()
    if (batch.size === 0) return
    const pipeline = redis.pipeline()
    // What each command of the pipeline adds, so that only the ones that failed are tried again.
    const adds: Array<[number, ActivityCount, number] | null> = []
    for (const [minute, counts] of batch) {
      for (const [name, n] of counts) {
        pipeline.hincrby(key(minute), name, n)
        adds.push([minute, name, n])
      }
      pipeline.expire(key(minute), KEEP_SECONDS)
      adds.push(null)
    }
    let failed: Array<[number, ActivityCount, number]>
    let error: unknown = null
    try {
      const results = (await pipeline.exec()) ?? []
      failed = adds.filter((add, i): add is [number, ActivityCount, number] => add !== null && !!results[i]?.[0])
      error = results.find(([err]) => err)?.[0] ?? null
    } catch (err) {
      // Not sent, or no answer in time. A pipeline that ran but timed out is counted twice: rare,
      // and on a chart a bump is better than a hole.
      failed = adds.filter((add): add is [number, ActivityCount, number] => add !== null)
      error = err
    }
    if (error === null) {
      warned = false
      return
    }
    // Tried again at the next flush, but for minutes the charts no longer show.
    for (const [minute, name, n] of failed) if (minute > current - ACTIVITY_MINUTES) add(minute, name, n)
    if (!warned) log.warn({ err: (error as Error).message }, 'could not write the console\'s activity counts; retrying')
    warned = true
  }

  /** Once a minute, fleet-wide: the first instance to claim the minute counts the live sessions. */
  async function sample (minute: number): Promise<void> {
    try {
      const [[err, claimed] = []] = (await redis.pipeline().hsetnx(key(minute), 'counted_by', instance).expire(key(minute), KEEP_SECONDS).exec()) ?? []
      if (err) throw err
      // The claim has its answer: the minute is settled for this instance, whoever won it.
      lastSampled = minute
      if (claimed !== 1) return
      await redis.hset(key(minute), 'live_sessions', await countSessions())
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not count the live sessions for the console\'s chart')
    }
  }
  const sampleIfDue = (minute: number) => minute === lastSampled ? undefined : sample(minute)

  function add (minute: number, name: ActivityCount, n: number): void {
    let counts = pending.get(minute)
    if (!counts) pending.set(minute, (counts = new Map()))
    counts.set(name, (counts.get(name) ?? 0) + n)
  }

  const flushing = periodic(async () => {
    const minute = minuteOf(now())
    await Promise.all([flush(), minute === startMinute ? undefined : sampleIfDue(minute)])
  }, options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS)

  return {
    count (name) {
      if (!closed) add(minuteOf(now()), name, 1)
    },
    async lastHour () {
      const last = minuteOf(now())
      // What this instance has not written yet is shown too, so an admin sees their own last login;
      // and the current minute's count of live sessions, unless some instance has made it already.
      await Promise.all([flush(), sampleIfDue(last)])
      const minutes = Array.from({ length: ACTIVITY_MINUTES }, (_, i) => last - ACTIVITY_MINUTES + 1 + i)
      const pipeline = redis.pipeline()
      for (const minute of minutes) pipeline.hmget(key(minute), 'live_sessions', ...ACTIVITY_COUNTS)
      const results = (await pipeline.exec()) ?? []
      const hour: ActivityHour = { minutes: minutes.map((m) => m * 60), live_sessions: [], logins: [], failed_logins: [], throttled: [] }
      for (const [err, fields] of results) {
        if (err) throw err
        const [live, ...counts] = fields as Array<string | null>
        hour.live_sessions.push(whole(live ?? null))
        ACTIVITY_COUNTS.forEach((name, i) => hour[name].push(whole(counts[i] ?? null) ?? 0))
      }
      return hour
    },
    async close () {
      if (closed) return
      closed = true
      await flushing.stop()
      await flush()
    },
  }
}

/** A count as stored; anything else (a hand-edited field) counts as none. */
function whole (value: string | null): number | null {
  if (value === null || !/^\d{1,15}$/.test(value)) return null
  return Number(value)
}
