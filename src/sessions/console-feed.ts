import type { EventFeed, FeedEvent } from './event-feed.js'
import { appendNewer, appendOlder, type EventRow, matches, type RowDraft, type RowFilter, withEmails } from './event-rows.js'

/**
 * Entries read per XRANGE of a live turn. A revoke-all of 100,000 sessions writes them 50 at a
 * time over about 12 s: a second's worth fits in one or two batches, and becomes one row.
 */
const TURN_BATCH = 1_000
/**
 * Batches one live turn reads at most while they come back full, merging a run that goes on from
 * one into the next; the rest waits for the next turn (at once). 10,000 entries, a few MB: the
 * bound on one turn's memory and Redis work.
 */
const TURN_MAX_BATCHES = 10
/** Entries read per XREVRANGE of a history page. */
const HISTORY_CHUNK = 1_000
/** Entries one history request reads at most: a page that is not full by then is answered as it is, with where to go on. */
export const HISTORY_SCAN_MAX = 10_000
/** Rows per history page, at most and by default. */
export const HISTORY_LIMIT_MAX = 100
export const HISTORY_LIMIT_DEFAULT = 50

/**
 * The users' emails, for rows (users/email-cache.ts, given by the route: sessions know nothing of
 * users): one answer per id asked, null for no such user or not known.
 */
export type EmailsOf = (ids: Iterable<string>) => Promise<ReadonlyMap<string, string | null>>

export interface Turn {
  /** Oldest first. */
  rows: EventRow[]
  /** The last entry read: where the next turn goes on from. */
  cursor: string
  /** The turn stopped at its bound with entries left: the next turn should follow at once. */
  more: boolean
  /** It stopped at the entry `stopAt` picked (that entry's row is in `rows`, if the filter takes it). */
  stopped: boolean
}

export interface HistoryPage {
  /** Newest first. */
  events: EventRow[]
  /** Pass it as `before` for the next (older) page; null once the stream's oldest entry was read. */
  next_before: string | null
  /** The oldest entry the stream keeps (it is trimmed): history goes no further back. */
  oldest_kept: string | null
}

export interface ConsoleFeed {
  /** The entries after `cursor` that pass `filter`, as rows; stops after the first entry `stopAt` accepts. */
  turn(cursor: string, filter: RowFilter, stopAt?: (event: FeedEvent) => boolean): Promise<Turn>
  /** Rows older than `before` (default: from the newest), newest first; `newest` is the newest entry the stream holds now (null: none). */
  history(page: { before?: string; limit: number; filter: RowFilter }): Promise<HistoryPage & { newest: string | null }>
  /** The newest entry's id (null: the stream is empty). */
  newest(): Promise<string | null>
}

/**
 * The console's view of the events stream (event-feed.ts reads it): rows with their users' emails,
 * runs collapsed (event-rows.ts), read in bounded steps. One email query per turn or page.
 */
export function createConsoleFeed (feed: EventFeed, emails: EmailsOf): ConsoleFeed {
  const finish = async (drafts: RowDraft[]) => withEmails(drafts, await emails(drafts.map((row) => row.user_id)))

  return {
    async newest () {
      return (await feed.latest(1))[0]?.id ?? null
    },
    async turn (cursor, filter, stopAt) {
      const drafts: RowDraft[] = []
      let more = false
      let stopped = false
      for (let batch = 0; batch < TURN_MAX_BATCHES && !stopped; batch++) {
        const read = await feed.after(cursor, TURN_BATCH)
        const stop = stopAt === undefined ? -1 : read.findIndex(stopAt)
        const taken = stop === -1 ? read : read.slice(0, stop + 1)
        stopped = stop !== -1
        if (taken.length > 0) cursor = taken.at(-1)!.id
        appendNewer(drafts, taken.filter((event) => matches(event, filter)))
        more = read.length === TURN_BATCH
        if (!more) break
      }
      return { rows: await finish(drafts), cursor, more: more && !stopped, stopped }
    },

    async history ({ before, limit, filter }) {
      const drafts: RowDraft[] = []
      let newest: string | null = null
      // The last entry this page took into account (in a row, or left out by the filter).
      let cursor = before ?? null
      let scanned = 0
      while (scanned < HISTORY_SCAN_MAX) {
        const want = Math.min(HISTORY_CHUNK, HISTORY_SCAN_MAX - scanned)
        const chunk = await feed.before(cursor, want)
        newest ??= chunk[0]?.id ?? null
        scanned += chunk.length
        for (const event of chunk) {
          if (matches(event, filter) && !appendOlder(drafts, event, limit)) {
            // The entry that would start another row: the next page starts with it.
            return { events: await finish(drafts), next_before: cursor, oldest_kept: await feed.oldest(), newest }
          }
          cursor = event.id
        }
        if (chunk.length < want) return { events: await finish(drafts), next_before: null, oldest_kept: await feed.oldest(), newest }
      }
      // Bounded by what one request may read: the client goes on from here if it wants more.
      return { events: await finish(drafts), next_before: cursor, oldest_kept: await feed.oldest(), newest }
    },
  }
}
