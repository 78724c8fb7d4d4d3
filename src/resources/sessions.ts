import type { Config } from '../config/index.js'
import type { RedisClient } from '../redis/client.js'
import { createEventStream, type EventSink, fanOut } from '../sessions/events.js'
import type { SessionTtl } from '../sessions/session-ttl.js'
import { createSessionStore, type SessionStore } from '../sessions/store.js'
import type { Log } from '../shared/log.js'
import type { Metrics } from '../telemetry/metrics.js'

/**
 * The session store as the app and the CLI use it: events to the stream (and counted, when there
 * are metrics), revocations confirmed by REDIS_WAIT_REPLICAS replicas.
 */
export function openSessionStore (redis: RedisClient, ttl: Pick<SessionTtl, 'seconds' | 'policyFor' | 'allPolicies' | 'windowFor' | 'loaded'>, config: Config, log: Log, metrics?: Metrics, recentSessions?: EventSink): SessionStore {
  const stream = createEventStream(redis, {
    keyPrefix: config.redisKeyPrefix,
    maxLength: config.eventsMaxLength,
    log,
    onFailure: (count) => metrics?.eventsFailed.inc(count),
  })
  const sinks = [stream, metrics?.events, recentSessions].filter((sink) => sink !== undefined)
  const events: EventSink = sinks.length === 1 ? stream : fanOut(...sinks)
  return createSessionStore(redis, {
    keyPrefix: config.redisKeyPrefix,
    ttlSeconds: ttl.seconds,
    policies: ttl,
    maxAgeSeconds: config.sessionMaxAgeSeconds,
    maxPerUser: config.sessionMaxPerUser,
    events,
    observe: metrics?.redisOperation,
    waitReplicas: {
      count: config.redisWaitReplicas,
      // Half the command timeout: WAIT must give up before the client gives up on WAIT.
      timeoutMs: Math.max(1, Math.floor(config.redisCommandTimeoutMs / 2)),
      onShortfall: (operation, acknowledged) => {
        metrics?.unreplicatedRevocations.inc()
        log.warn({ operation, acknowledged, wanted: config.redisWaitReplicas }, 'a revocation was not confirmed by enough replicas in time; a failover now could undo it')
      },
    },
    onSweepStopped: (userId, deleted, err) => {
      metrics?.sweepsStopped.inc()
      log.warn({ userId, deleted, err: (err as Error).message }, 'a revoke-all stopped deleting session keys; the rest are refused all the same and expire on their own')
    },
  })
}
