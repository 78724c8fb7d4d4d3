import type { ConsoleFeed, Turn } from './console-feed.js'
import type { FeedEvent } from './event-feed.js'
import type { EventRow, RowFilter } from './event-rows.js'

/** Rows a stream opens with: the latest, or those after Last-Event-ID (a reconnect). */
export const EVENT_BACKLOG = 50
/** How often an open stream reads the events stream when it has caught up. */
const POLL_INTERVAL_MS = 1_000
/** How often a stream checks that its session is still live (between its reconnects, see http/sse.ts max age). */
const RECHECK_INTERVAL_MS = 15_000

/** Rows written between two waits for room: a turn can hold thousands (a burst of sign-ins). */
const ROWS_PER_WRITE = 100

/** Where the rows go (an http/sse.ts stream). */
export interface RowSink {
  readonly ended: boolean
  send(event: string, data: unknown, id?: string): void
  end(): void
  onEnd(listener: () => void): void
  /** Resolves when the client has read most of what was sent (or the stream ended). */
  room(): Promise<void>
}

export interface FollowOptions {
  filter: RowFilter
  /** Last-Event-ID: the last entry the client has. */
  resumeAfter?: string
  /** The caller's own session: its end goes by in the feed, and ends the stream (`signed-out`). */
  sessionId: string
  /** Whether that session is still live (not a touch: an open console must not keep it alive by itself). */
  stillLive: () => Promise<boolean>
  /** Redis failed under an open stream: it ends (the browser reconnects and resumes). */
  onError: (err: Error) => void
}

/**
 * The console's live event view: reads what a stream opens with (throwing if Redis fails, so the
 * route answers a plain 503 rather than a stream that opens and dies), and returns what then
 * writes it to a sink and follows the feed, one turn a second (at once while turns come back full).
 */
export async function openFollow (feed: ConsoleFeed, options: FollowOptions): Promise<(sink: RowSink) => void> {
  const { filter, resumeAfter, sessionId, stillLive, onError } = options
  const endsOwnSession = (event: FeedEvent) => event.session_id === sessionId && event.type !== 'created'
  const opening = await openWith(feed, filter, resumeAfter, endsOwnSession)

  return (sink) => {
    let timer: NodeJS.Timeout | undefined
    let { cursor } = opening
    let nextCheck = Date.now() + RECHECK_INTERVAL_MS
    sink.onEnd(() => clearTimeout(timer))
    const signedOut = () => {
      sink.send('signed-out', {})
      sink.end()
    }
    // Paced by the client: a turn of thousands of rows goes out as fast as it reads them, not in
    // one write that would outgrow what a stream may hold unsent.
    const sendRows = async (rows: EventRow[]) => {
      for (let i = 0; i < rows.length && !sink.ended; i++) {
        if (i > 0 && i % ROWS_PER_WRITE === 0) await sink.room()
        sink.send('session', rows[i], rows[i]!.id)
      }
    }
    const poll = async () => {
      try {
        const turn = await feed.turn(cursor, filter, endsOwnSession)
        if (sink.ended) return
        cursor = turn.cursor
        await sendRows(turn.rows)
        if (sink.ended) return
        // The caller's own session ending goes by in the feed: no need to wait for the next check.
        if (turn.stopped) return signedOut()
        if (Date.now() >= nextCheck) {
          nextCheck = Date.now() + RECHECK_INTERVAL_MS
          if (!(await stillLive())) return signedOut()
        }
        if (!sink.ended) timer = setTimeout(() => { void poll() }, turn.more ? 0 : POLL_INTERVAL_MS)
      } catch (err) {
        onError(err as Error)
        sink.end()
      }
    }

    // Its list no longer joins up with these: the client starts it afresh.
    if (opening.restart) sink.send('restart', {})
    // At most EVENT_BACKLOG rows: one write.
    void sendRows(opening.rows)
    if (opening.stopped) return signedOut()
    if (!sink.ended) timer = setTimeout(() => { void poll() }, opening.more ? 0 : POLL_INTERVAL_MS)
  }
}

/** The latest EVENT_BACKLOG rows, or those after `resumeAfter` if one turn reaches the newest with no more than that. */
async function openWith (feed: ConsoleFeed, filter: RowFilter, resumeAfter: string | undefined, stopAt: (event: FeedEvent) => boolean): Promise<Turn & { restart: boolean }> {
  if (resumeAfter !== undefined && !(await isAhead(feed, resumeAfter))) {
    const turn = await feed.turn(resumeAfter, filter, stopAt)
    if (!turn.more && turn.rows.length <= EVENT_BACKLOG) return { ...turn, restart: false }
  }
  // Too far behind to catch up (a laptop back from sleep), or a new stream: the latest.
  const page = await feed.history({ limit: EVENT_BACKLOG, filter })
  return { rows: page.events.reverse(), cursor: page.newest ?? resumeAfter ?? '0-0', more: false, stopped: false, restart: resumeAfter !== undefined }
}

/**
 * A Last-Event-ID past the stream's newest entry (a tampered one, or a stream deleted and written
 * again by a clock that runs behind): resuming from it would show nothing until Redis' clock passed
 * it. The stream starts afresh instead.
 */
async function isAhead (feed: ConsoleFeed, id: string): Promise<boolean> {
  const newest = await feed.newest()
  if (newest === null) return true
  const [ms, seq] = id.split('-').map(BigInt) as [bigint, bigint]
  const [newestMs, newestSeq] = newest.split('-').map(BigInt) as [bigint, bigint]
  return ms > newestMs || (ms === newestMs && seq > newestSeq)
}
