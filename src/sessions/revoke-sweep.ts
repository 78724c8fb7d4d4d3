import type { EventSink, RevokeReason } from './events.js'
import type { SessionScripts } from './scripts/index.js'

/**
 * Sessions whose keys one sweep call deletes after a revoke-all: the bound on the work of one
 * Redis call (docs/performance.md measures it), whatever the user's number of sessions.
 */
const SWEEP_BATCH = 50

/**
 * How long a revoke-all deletes keys before it answers (a user with 100,000 sessions takes about
 * 12 s on a 2-core machine), well under the usual 60 s proxy timeout; the sessions are refused from
 * its first instant. If keys are left, their deletion goes on after the answer, for at most
 * SWEEP_MAX_MS (millions of sessions, or an index growing as fast as it is swept); the rest expire
 * on their own.
 */
const SWEEP_INLINE_MS = 30_000
const SWEEP_MAX_MS = 10 * 60_000

/** What a sweep needs of its store. */
export interface SweepParts {
  scripts: SessionScripts
  /** Where the `revoked` events of the sessions it ends go. */
  events: EventSink
  /** Told when a sweep stopped before it was done (an error, or its time ran out). */
  onSweepStopped?: (userId: string, deleted: number, err: unknown) => void
}

/**
 * Deletes the keys of the user's cut-off sessions, walking the index a page at a time, as a
 * listing does (session-page-2.lua: O(log n + page) per call, from the last entry's place, which
 * holds even as that entry is deleted), and ending each page's revoked sessions in one call
 * (end-revoked-sessions-n.lua): no Redis call grows with the user's number of sessions. (ZSCAN
 * would not do: while Redis shrinks the set's hash table, one ZSCAN step can walk a great many
 * empty buckets.) Cut-off sessions never move in the index, since nothing extends them; sessions
 * created or kept since the cutoff are passed over. Stops after `budgetMs` (done: false). The
 * sessions are over already, so this never fails the revoke-all: an error stops it, is reported,
 * and leaves the rest to expire on their own.
 */
async function sweep ({ scripts, events, onSweepStopped }: SweepParts, userId: string, reason: RevokeReason, budgetMs: number): Promise<{ ended: number; done: boolean }> {
  const started = Date.now()
  let ended = 0
  // One step ahead: the next page is read, and the last batch's events published, while a batch
  // is being ended (at most one of each, so nothing piles up in memory).
  let page = scripts.sessionPage({ userId, limit: SWEEP_BATCH })
  let publishing: Promise<void> = Promise.resolve()
  try {
    for (;;) {
      const entries = await page
      const more = entries.length === SWEEP_BATCH
      if (more) page = scripts.sessionPage({ userId, limit: SWEEP_BATCH, after: entries.at(-1)! })
      if (entries.length > 0) {
        const gone = await scripts.endRevokedSessions({ userId, ids: entries.map((entry) => entry.id) })
        ended += gone.length
        await publishing
        publishing = events(gone.map(({ id, client }) => ({ type: 'revoked', sessionId: id, userId, reason, client })))
      }
      if (!more) return { ended, done: true }
      if (Date.now() - started > budgetMs) return { ended, done: false }
    }
  } catch (err) {
    onSweepStopped?.(userId, ended, err)
    return { ended, done: true }
  } finally {
    await publishing
    // A prefetched page left over when the loop stopped early must not be an unhandled rejection.
    page.catch(() => {})
  }
}

/**
 * The deletion of a revoke-all's keys: SWEEP_INLINE_MS before the revoke-all answers, then, if keys
 * are left, at most SWEEP_MAX_MS more after it. Returns how many it deleted before answering.
 */
export async function endCutOffSessions (parts: SweepParts, userId: string, reason: RevokeReason): Promise<number> {
  const { ended, done } = await sweep(parts, userId, reason, SWEEP_INLINE_MS)
  if (!done) {
    // The answer goes now; the rest of the keys are deleted after it.
    void sweep(parts, userId, reason, SWEEP_MAX_MS).then(({ done: finished }) => {
      if (!finished) parts.onSweepStopped?.(userId, ended, new Error(`still deleting keys after ${(SWEEP_INLINE_MS + SWEEP_MAX_MS) / 1000} s`))
    })
  }
  return ended
}
