import { ACTIVITY_MINUTES } from '../telemetry/activity.js'
import { HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX } from '../sessions/console-feed.js'
import { EVENT_ID_PATTERN } from '../sessions/event-feed.js'
import { EVENT_REASONS, EVENT_TYPES } from '../sessions/events.js'
import { pageLimit } from './common.js'

// What the ops console draws: GET /admin/activity, and the header GET /admin/events resumes with.

/** A value per minute of the hour; generic, so that the item's schema types the reply too. */
const series = <const Items extends object>(items: Items) => ({ type: 'array', items, minItems: ACTIVITY_MINUTES, maxItems: ACTIVITY_MINUTES }) as const
const count = { type: 'integer', minimum: 0 } as const
export const activityHour = {
  type: 'object',
  required: ['minutes', 'live_sessions', 'logins', 'failed_logins', 'throttled'],
  additionalProperties: false,
  description: 'The last hour, a minute at a time (oldest first, the last is the current minute), across every instance',
  properties: {
    minutes: { ...series(count), description: 'Start of each minute, Unix seconds' },
    live_sessions: { ...series({ type: ['integer', 'null'], minimum: 0 }), description: 'Session hashes counted in that minute (null: not counted)' },
    logins: { ...series(count), description: 'Successful logins' },
    failed_logins: { ...series(count), description: 'Logins refused for a wrong email or password' },
    throttled: { ...series(count), description: '429 answers (every brute-force limit)' },
  },
} as const

export const eventHeaders = {
  type: 'object',
  properties: { 'last-event-id': { type: 'string', pattern: EVENT_ID_PATTERN.source, description: 'Resume after this event (sent by EventSource when it reconnects)' } },
} as const

const eventId = { type: 'string', pattern: EVENT_ID_PATTERN.source } as const

/** Which entries a console wants; either, both or neither. */
const filterProperties = {
  type: { type: 'string', enum: [...EVENT_TYPES], description: 'Only entries of this type' },
  reason: { type: 'string', enum: EVENT_REASONS, description: 'Only entries with this reason (see docs/session-contract.md, "Events")' },
} as const

export const eventQuery = {
  type: 'object',
  additionalProperties: false,
  properties: filterProperties,
} as const

export const eventHistoryQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    before: { ...eventId, description: 'Rows older than this entry: the `next_before` of the page before (default: from the newest)' },
    limit: pageLimit('Rows', HISTORY_LIMIT_MAX, HISTORY_LIMIT_DEFAULT),
    ...filterProperties,
  },
} as const

/** One row of the console's event list (src/sessions/event-rows.ts). */
export const eventRow = {
  type: 'object',
  required: ['id', 'first_id', 'at', 'first_at', 'type', 'reason', 'user_id', 'email', 'client', 'session_id', 'count'],
  additionalProperties: false,
  description: 'One entry of the events stream, or a run of `revoked` or `expired` entries of one user with one reason (a revoke-all), collapsed',
  properties: {
    id: { ...eventId, description: 'The newest entry of the row (what Last-Event-ID resumes after)' },
    first_id: { ...eventId, description: 'The oldest entry of the row (= id when count is 1)' },
    at: { type: 'string', format: 'date-time', description: 'When the newest entry was added' },
    first_at: { type: 'string', format: 'date-time', description: 'When the oldest entry was added' },
    type: { type: 'string', description: '`created`, `revoked`, `expired` or `user-deleted` (types added later may appear)' },
    reason: { type: 'string', description: 'Empty for `created`' },
    user_id: { type: 'string' },
    email: { type: ['string', 'null'], description: 'The user\'s email now; null when the user no longer exists or PostgreSQL did not answer' },
    client: { type: 'string', description: 'The session\'s client label; empty when unknown, or when the sessions of a run had different ones' },
    session_id: { type: 'string', description: 'Empty for `user-deleted` and for a row that stands for several sessions' },
    count: { type: 'integer', minimum: 1, description: 'How many entries the row stands for' },
  },
} as const

export const eventHistory = {
  type: 'object',
  required: ['events', 'next_before', 'oldest_kept'],
  additionalProperties: false,
  properties: {
    events: { type: 'array', items: eventRow, maxItems: HISTORY_LIMIT_MAX, description: 'Newest first' },
    next_before: { type: ['string', 'null'], description: 'Pass as `before` for the next, older page; null once the oldest entry the stream keeps was read. A page may hold fewer rows than asked (a request reads at most 10,000 entries): go on from here' },
    oldest_kept: { type: ['string', 'null'], description: 'The oldest entry the stream keeps (it is trimmed to about EVENTS_MAX_LENGTH): history goes no further back. Null when it is empty' },
  },
} as const

/** GET /admin/events: the stream itself, as its media type (docs/console.md describes the events). */
export const eventStream = {
  description: 'Server-sent events, one per row, until the client goes, its session ends, the stream reaches its maximum age or the server closes',
  content: { 'text/event-stream': { schema: { type: 'string', description: '`event: session` with `id:` (the row\'s id) and `data:` (a row, as in listEventHistory); `event: restart` when a resume is too far behind (start the list afresh); `event: signed-out` once the caller\'s own session has ended; `event: end` with `{"reason":"max-age"}` before the server ends a stream that has reached its maximum age (reconnect); `: still here` comments' } } },
} as const
