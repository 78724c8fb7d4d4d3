import { ACTIVITY_MINUTES } from '../activity/activity.js'
import { EVENT_ID_PATTERN } from '../sessions/event-feed.js'

/** What the ops console draws: GET /admin/activity, and the header GET /admin/events resumes with. */

const series = (items: object) => ({ type: 'array', items, minItems: ACTIVITY_MINUTES, maxItems: ACTIVITY_MINUTES }) as const
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

/** GET /admin/events: the stream itself, as its media type (docs/console.md describes the events). */
export const eventStream = {
  description: 'Server-sent events, one per session event, until the client goes, its session ends or the server closes',
  content: { 'text/event-stream': { schema: { type: 'string', description: '`event: session` lines with `id:` and `data:` ({id, at, type, session_id, user_id, reason}); `event: signed-out` once the caller\'s own session has ended; `: ping` comments' } } },
} as const
