import type { Log } from '../shared/log.js'
import type { RedisClient } from '../redis/client.js'

/** The version of the event entry format (the `v` field); see docs/session-contract.md, "Events". */
const EVENT_FORMAT_VERSION = '1'

/** The stream's key: written here, read by the console's live view (event-feed.ts) and other services. */
export const eventStreamKey = (keyPrefix: string) => `${keyPrefix}events`

/** The entry types, as docs/session-contract.md lists them (the console filters on them). */
export const EVENT_TYPES = ['created', 'revoked', 'expired', 'user-deleted'] as const

/** Why a session was ended on purpose. */
const REVOKE_REASONS = ['logout', 'revoke-all', 'password-change', 'password-reset', 'admin', 'cap', 'role-change', 'account-deleted'] as const
export type RevokeReason = (typeof REVOKE_REASONS)[number]
/** Who deleted an account: its user (DELETE /me), an admin (API or console), or `gatehouse users delete`. */
const DELETED_BY = ['self', 'admin', 'cli'] as const
export type DeletedBy = (typeof DELETED_BY)[number]
/**
 * Why a session ran out: `ttl`, Redis expired the key (idle for the whole sliding window, or past
 * its absolute end); `idle`, a request found it idle for longer than a TTL that ops had shortened;
 * `max-age`, a request found it past its absolute end.
 */
const EXPIRE_REASONS = ['ttl', 'idle', 'max-age'] as const
export type ExpireReason = (typeof EXPIRE_REASONS)[number]
/** Every non-empty `reason` an entry can carry (`created` has none). */
export const EVENT_REASONS = [...new Set([...REVOKE_REASONS, ...EXPIRE_REASONS, ...DELETED_BY])]

/**
 * `client`: the session's client label (its hash's `client` field), where the writer knows it
 * without another Redis round trip; absent (written '') where it does not.
 */
export type SessionEvent =
  | { type: 'created'; sessionId: string; userId: string; client?: string }
  | { type: 'revoked'; sessionId: string; userId: string; reason: RevokeReason; client?: string }
  | { type: 'expired'; sessionId: string; userId: string; reason: ExpireReason; client?: string }
  /** An account is gone (after its sessions were ended): other services may forget the user. No session id. */
  | { type: 'user-deleted'; sessionId: ''; userId: string; reason: DeletedBy }

/** Receives every session event (the stream, the metrics). Never throws: an event is not worth failing a request for. */
export type EventSink = (events: SessionEvent[]) => Promise<void>

export interface EventStreamOptions {
  keyPrefix: string
  /** Approximate cap on the stream's length (XADD MAXLEN ~). */
  maxLength: number
  log: Pick<Log, 'warn'>
  /** Called with the number of events that could not be written. */
  onFailure?: (count: number) => void
}

/**
 * Publishes session events to the Redis Stream `<prefix>events`, capped with MAXLEN ~ (trimmed
 * in whole macro nodes, which is cheap). Written after the change itself succeeded: a consumer
 * may, rarely, miss an event when Redis fails between the two, never see one for a change that
 * did not happen.
 */
export function createEventStream (redis: RedisClient, { keyPrefix, maxLength, log, onFailure }: EventStreamOptions): EventSink {
  const key = eventStreamKey(keyPrefix)
  return async (events) => {
    if (events.length === 0) return
    const pipeline = redis.pipeline()
    for (const event of events) {
      pipeline.xadd(key, 'MAXLEN', '~', String(maxLength), '*',
        'v', EVENT_FORMAT_VERSION, 'type', event.type, 'session_id', event.sessionId, 'user_id', event.userId,
        'reason', 'reason' in event ? event.reason : '', 'client', 'client' in event ? event.client ?? '' : '')
    }
    try {
      const results = (await pipeline.exec()) ?? []
      const failed = results.filter(([err]) => err).length
      if (failed > 0) throw results.find(([err]) => err)?.[0]
    } catch (err) {
      log.warn({ err: (err as Error).message, events: events.length }, 'could not publish session events')
      onFailure?.(events.length)
    }
  }
}

/** Several sinks as one. */
export function fanOut (...sinks: EventSink[]): EventSink {
  return async (events) => {
    await Promise.all(sinks.map((sink) => sink(events)))
  }
}
