import type { FeedEvent } from './event-feed.js'

/**
 * What the ops console shows of the events stream: one row per entry, except that a run of
 * `revoked` or `expired` entries of one user for one reason (a revoke-all of 100,000 sessions, a
 * batch of expiries) is one row that says how many it stands for.
 */
export interface EventRow {
  /** The newest entry in the row (its stream id and time): what Last-Event-ID resumes after. */
  id: string
  at: string
  /** The oldest entry in the row; the same as `id`/`at` when it stands for one. */
  first_id: string
  first_at: string
  type: string
  reason: string
  user_id: string
  /** The user's email now; null when the user no longer exists, or PostgreSQL could not be asked. */
  email: string | null
  /** The session's client label; '' when unknown, or when the entries of a run name different ones. */
  client: string
  /** '' for a row that stands for several sessions. */
  session_id: string
  count: number
}

/** A row before its email is looked up. */
export type RowDraft = Omit<EventRow, 'email'>

/** Which entries a request wants: either may be absent (any). */
export interface RowFilter {
  type?: string
  reason?: string
}

/** Only these types collapse: a run of logins is many people, each worth a row. */
const COLLAPSING = new Set(['revoked', 'expired'])

export const matches = (event: FeedEvent, filter: RowFilter): boolean =>
  (filter.type === undefined || event.type === filter.type) && (filter.reason === undefined || event.reason === filter.reason)

/** Whether `event` belongs to the same run as `row` (either side of it in the stream). */
export const continues = (row: RowDraft, event: FeedEvent): boolean =>
  COLLAPSING.has(event.type) && row.type === event.type && row.user_id === event.user_id && row.reason === event.reason

function rowOf (event: FeedEvent): RowDraft {
  const { id, at, type, reason, user_id, client, session_id } = event
  return { id, first_id: id, at, first_at: at, type, reason, user_id, client, session_id, count: 1 }
}

function join (row: RowDraft, event: FeedEvent): void {
  row.count += 1
  row.session_id = ''
  if (row.client !== event.client) row.client = ''
}

/**
 * Adds entries read oldest first (a live poll) to `rows`, also oldest first: an entry that
 * continues the last row's run joins it as its newest.
 */
export function appendNewer (rows: RowDraft[], events: FeedEvent[]): void {
  for (const event of events) {
    const last = rows.at(-1)
    if (last && continues(last, event)) {
      join(last, event)
      last.id = event.id
      last.at = event.at
    } else {
      rows.push(rowOf(event))
    }
  }
}

/**
 * Adds one entry read newest first (history) to `rows`, also newest first: an entry that
 * continues the last row's run joins it as its oldest. Returns false when it would start row
 * number `limit + 1` (and leaves it out): the page is full.
 */
export function appendOlder (rows: RowDraft[], event: FeedEvent, limit: number): boolean {
  const last = rows.at(-1)
  if (last && continues(last, event)) {
    join(last, event)
    last.first_id = event.id
    last.first_at = event.at
    return true
  }
  if (rows.length >= limit) return false
  rows.push(rowOf(event))
  return true
}

/** The rows with their users' emails (`emails` has every user id of the rows it knows). */
export const withEmails = (rows: RowDraft[], emails: ReadonlyMap<string, string | null>): EventRow[] =>
  rows.map(({ id, first_id, at, first_at, type, reason, user_id, client, session_id, count }) =>
    ({ id, first_id, at, first_at, type, reason, user_id, email: emails.get(user_id) ?? null, client, session_id, count }))
