import type { RedisClient } from '../redis/client.js'
import type { Log } from '../shared/log.js'
import { periodic } from './periodic.js'

/** How many sessions the shared list keeps: the console pages through these, most recently active first. */
export const RECENT_SESSIONS_KEPT = 1000
const DEFAULT_FLUSH_INTERVAL_MS = 5_000
/** A list nobody has added to for this long (no instance serving) is dropped by Redis. */
const KEEP_MS = 2 * 3600_000

/** One session in the list: who, which, and when an instance last served it (Unix ms). */
export interface RecentSession {
  userId: string
  id: string
  at: number
}

/** Where a page of the list starts: the last entry of the page before. */
export type RecentCursor = RecentSession

export interface RecentSessions {
  /** A session was just used or created: in memory only, written at the next flush. */
  seen(userId: string, id: string): void
  /** A session ended or expired: it leaves the list at the next flush (the session events feed this and `seen`). */
  ended(userId: string, id: string): void
  /** The most recently active, newest first, after `cursor` (this instance's unwritten ones included). */
  page(count: number, cursor?: RecentCursor): Promise<{ sessions: RecentSession[], more: boolean }>
  /** Entries whose sessions turned out to have ended: dropped at once. */
  drop(entries: RecentSession[]): Promise<void>
  close(): Promise<void>
}

export interface RecentSessionsOptions {
  keyPrefix: string
  log: Pick<Log, 'warn'>
  flushIntervalMs?: number
  now?: () => number
}

/**
 * The sessions most recently active across every instance, for the console's "sessions now".
 * The hot path gains no Redis work: each instance notes the sessions it serves in memory (a Map,
 * bounded) and writes them every few seconds, with those that ended since, to one sorted set,
 * `<prefix>activity:{activity}:recent-sessions` (score: when last served, Unix ms), trimmed to the
 * newest RECENT_SESSIONS_KEPT. A global index written per request would have cost a write on every
 * request and, on a Cluster, a second slot in the touch script; this costs one pipeline per
 * instance per flush. Ids only: the reader asks the session store which are still live
 * (store.describe), so an entry never brings an ended session back. Not part of the session contract.
 */
export function createRecentSessions (redis: RedisClient, options: RecentSessionsOptions): RecentSessions {
  const { keyPrefix, log } = options
  const now = options.now ?? Date.now
  const key = `${keyPrefix}activity:{activity}:recent-sessions`
  // Insertion order is recency: `seen` moves an entry to the end, and the first one is the oldest.
  let seen = new Map<string, number>()
  let endedSince = new Set<string>()
  let closed = false
  let warned = false

  const member = (userId: string, id: string) => `${userId}:${id}`

  async function flush (): Promise<void> {
    const added = seen
    const gone = endedSince
    seen = new Map()
    endedSince = new Set()
    if (added.size === 0 && gone.size === 0) return
    const pipeline = redis.pipeline()
    if (added.size > 0) {
      const pairs: Array<string | number> = []
      for (const [name, at] of added) pairs.push(at, name)
      // GT: another instance may have served the session more recently.
      pipeline.zadd(key, 'GT', ...pairs)
    }
    if (gone.size > 0) pipeline.zrem(key, ...gone)
    pipeline.zremrangebyrank(key, 0, -(RECENT_SESSIONS_KEPT + 1))
    pipeline.pexpire(key, KEEP_MS)
    try {
      const results = (await pipeline.exec()) ?? []
      const failed = results.find(([err]) => err)
      if (failed) throw failed[0]
      warned = false
    } catch (err) {
      // A chart of the console, not a request: what was noted is dropped, and the next flush brings the list up to date.
      if (!warned) log.warn({ err: (err as Error).message }, 'could not write the console\'s recent sessions; retrying at the next flush')
      warned = true
    }
  }

  function noteSeen (userId: string, id: string): void {
    if (closed) return
    const name = member(userId, id)
    seen.delete(name)
    seen.set(name, now())
    // Bounded: beyond what the list keeps, the oldest noted ones could never be shown.
    if (seen.size > RECENT_SESSIONS_KEPT) seen.delete(seen.keys().next().value!)
    endedSince.delete(name)
  }

  const flushing = periodic(flush, options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS)

  return {
    seen: noteSeen,
    ended (userId, id) {
      const name = member(userId, id)
      seen.delete(name)
      // Beyond the bound, an ended session stays in the list until a reader finds it ended (drop).
      if (endedSince.size < RECENT_SESSIONS_KEPT) endedSince.add(name)
    },
    async page (count, cursor) {
      await flushing.run()
      // Equal scores come in reverse order of their members: the page after the cursor's entry
      // goes on below its member among those of its score, then below its score.
      let ties = 0
      const max = cursor === undefined ? '+inf' : String(cursor.at)
      if (cursor !== undefined) ties = await redis.zcount(key, cursor.at, cursor.at)
      const flat = await redis.zrevrangebyscore(key, max, '-inf', 'WITHSCORES', 'LIMIT', 0, count + ties + 1)
      const after = cursor === undefined ? null : member(cursor.userId, cursor.id)
      const sessions: RecentSession[] = []
      let more = false
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const name = flat[i]!
        const at = Number(flat[i + 1])
        if (cursor !== undefined && at === cursor.at && name >= after!) continue
        if (sessions.length === count) {
          more = true
          break
        }
        const split = name.indexOf(':')
        sessions.push({ userId: name.slice(0, split), id: name.slice(split + 1), at })
      }
      return { sessions, more }
    },
    async drop (entries) {
      if (entries.length > 0) await redis.zrem(key, ...entries.map((entry) => member(entry.userId, entry.id)))
    },
    async close () {
      if (closed) return
      closed = true
      await flushing.stop()
      await flush()
    },
  }
}
