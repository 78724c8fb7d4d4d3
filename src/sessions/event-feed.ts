import type { RedisClient } from '../redis/client.js'
import { eventStreamKey } from './events.js'

/** A stream entry's id, `<ms>-<seq>`: what a client sends back (Last-Event-ID) to resume. */
export const EVENT_ID_PATTERN = /^\d{1,15}-\d{1,15}$/

/** One entry of the `<prefix>events` stream, as the console shows it. */
export interface FeedEvent {
  id: string
  /** When Redis added it (the id's time), ISO 8601. */
  at: string
  type: string
  session_id: string
  user_id: string
  /** Empty for `created`. */
  reason: string
  /** The session's client label; '' when the entry has none (older entries, and where the writer did not know it). */
  client: string
}

/** Reads the events stream (sessions/events.ts writes it) for the console's live view. */
export interface EventFeed {
  /** The newest `count` events, oldest first. */
  latest(count: number): Promise<FeedEvent[]>
  /** At most `count` events after `id`, oldest first (the stream trims old ones: a resume from far back starts at the oldest kept). */
  after(id: string, count: number): Promise<FeedEvent[]>
  /** At most `count` events before `id` (or the newest, when `id` is null), newest first. */
  before(id: string | null, count: number): Promise<FeedEvent[]>
  /** The id of the oldest entry the stream keeps; null when it is empty. */
  oldest(): Promise<string | null>
}

/** Entry fields are written by Gatehouse; a hand-written one is cut to this length rather than trusted. */
const MAX_FIELD_LENGTH = 200

export function createEventFeed (redis: RedisClient, keyPrefix: string): EventFeed {
  const key = eventStreamKey(keyPrefix)
  return {
    async latest (count) {
      return (await redis.xrevrange(key, '+', '-', 'COUNT', count)).reverse().map(feedEvent)
    },
    async after (id, count) {
      return (await redis.xrange(key, `(${id}`, '+', 'COUNT', count)).map(feedEvent)
    },
    async before (id, count) {
      // Nothing is older than the first id there can be (and Redis refuses the range).
      if (id === '0-0') return []
      return (await redis.xrevrange(key, id === null ? '+' : `(${id}`, '-', 'COUNT', count)).map(feedEvent)
    },
    async oldest () {
      return (await redis.xrange(key, '-', '+', 'COUNT', 1))[0]?.[0] ?? null
    },
  }
}

function feedEvent ([id, fields]: [string, string[]]): FeedEvent {
  const field = (name: string) => {
    // Field-value pairs; a stream entry has a handful, so a scan is the cheapest lookup.
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!.slice(0, MAX_FIELD_LENGTH)
    return ''
  }
  return {
    id,
    at: new Date(Number(id.slice(0, id.indexOf('-')))).toISOString(),
    type: field('type'),
    session_id: field('session_id'),
    user_id: field('user_id'),
    reason: field('reason'),
    client: field('client'),
  }
}
