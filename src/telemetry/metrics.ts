import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/**
 * A session event as the counters read it: the sessions layer's events (sessions/events.ts) have
 * this shape and more, and a revoked or expired one always has its reason. Spelt here, so that
 * telemetry knows nothing of the domain.
 */
export interface CountedEvent {
  type: string
  reason?: string
}

/** How long a count of live sessions (a SCAN over every session key) is reused between scrapes. */
const SESSION_COUNT_MAX_AGE_MS = 15_000

export interface Metrics {
  registry: Registry
  logins: Counter<'result'>
  introspections: Counter<'result'>
  eventsFailed: Counter
  /** Revocations that fewer replicas than REDIS_WAIT_REPLICAS confirmed in time (see sessions/store.ts). */
  unreplicatedRevocations: Counter
  /** Requests refused by a brute-force limit, by limit. */
  throttled: Counter<'limit'>
  /** Account mails by kind and outcome (sent, retried, dropped), and why one was dropped. */
  mail: Counter<'kind' | 'outcome' | 'reason'>
  /** Revoke-alls whose key deletion stopped early (see sessions/store.ts `sweep`). */
  sweepsStopped: Counter
  // The three below run on every authenticated request: keep them cheap (docs/performance.md).
  touched(result: 'ok' | 'gone'): void
  redisOperation(operation: string, seconds: number): void
  httpRequest(method: string, route: string, statusCode: number, seconds: number): void
  /** Counts revocations and expiries by reason: a sink of session events. */
  events(events: readonly CountedEvent[]): Promise<void>
  /** Session hashes in Redis: the gauge's count, a SCAN reused for up to 15 s (the console's chart samples it too); rejects when the SCAN failed. */
  liveSessions(): Promise<number>
  /** The same count with when it was made (Unix ms), for a headline that says its age (the console's "sessions now"). */
  liveSessionCount(): Promise<{ value: number; countedAt: number }>
}

/** What the metrics read of the password pool (users/bcrypt-pool.ts `stats()`). */
interface PasswordPoolView {
  waiting: number
  threads: number
  refused: { atEntry: number; deadline: number }
}

/**
 * Prometheus metrics (prom-client), in a registry of the app's own, so two apps in one process
 * (the tests) do not collide. Served at GET /metrics.
 */
export function createMetrics (countSessions: () => Promise<number>, passwordPool: () => PasswordPoolView): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' })
  const registers = [registry]

  const revocations = new Counter({ name: 'gatehouse_session_revocations_total', help: 'Sessions ended on purpose, by reason', labelNames: ['reason'], registers })
  const expirations = new Counter({ name: 'gatehouse_session_expirations_total', help: 'Sessions that ran out, by reason', labelNames: ['reason'], registers })
  const created = new Counter({ name: 'gatehouse_sessions_created_total', help: 'Sessions created (successful logins)', registers })

  // `failed`: the last SCAN failed, and `value` is the one before it.
  let counted: { value: number; at: number; failed: boolean } | null = null
  // The count in progress: scrapes that find the last one stale all wait for this one SCAN of
  // the keyspace, rather than each starting its own.
  let counting: Promise<void> | null = null
  const recount = () =>
    countSessions()
      .then((value) => {
        counted = { value, at: Date.now(), failed: false }
      })
      .catch(() => {
        counted = { value: counted?.value ?? 0, at: Date.now(), failed: true }
      })
      .finally(() => {
        counting = null
      })
  /** Rejects when the count failed: a chart must show a gap, not an old number as today's. */
  const liveSessionCount = async () => {
    if (!counted || Date.now() - counted.at > SESSION_COUNT_MAX_AGE_MS) await (counting ??= recount())
    if (!counted || counted.failed) throw new Error('the live sessions could not be counted')
    return { value: counted.value, countedAt: counted.at }
  }
  const liveSessions = async () => (await liveSessionCount()).value
  // Registered by construction: prom-client reads the gauge at each scrape through `registers`.
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'gatehouse_active_sessions',
    help: `Session hashes in Redis (counted with SCAN, at most every ${SESSION_COUNT_MAX_AGE_MS / 1000} s)`,
    registers,
    async collect () {
      // Redis down: the gauge keeps its last value rather than failing the whole scrape.
      this.set(await liveSessions().catch(() => counted?.value ?? 0))
    },
  })

  // eslint-disable-next-line no-new
  new Gauge({
    name: 'gatehouse_password_checks_waiting',
    help: 'bcrypt calls waiting for a worker thread (at BCRYPT_MAX_QUEUE, logins and sign-ups get 503)',
    registers,
    collect () {
      this.set(passwordPool().waiting)
    },
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'gatehouse_password_threads',
    help: 'bcrypt worker threads alive (started for hashing, let go after 10 s without any)',
    registers,
    collect () {
      this.set(passwordPool().threads)
    },
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'gatehouse_password_checks_refused_total',
    help: 'Logins, sign-ups and password changes answered 503 by the password pool: at entry (queue full at BCRYPT_MAX_QUEUE, or not to be served within BCRYPT_DEADLINE_MS) or at the deadline',
    labelNames: ['reason'],
    registers,
    collect () {
      // The pool keeps the totals; the counter shows them.
      const { atEntry, deadline } = passwordPool().refused
      this.reset()
      this.inc({ reason: 'at_entry' }, atEntry)
      this.inc({ reason: 'deadline' }, deadline)
    },
  })

  const touches = new Counter({ name: 'gatehouse_session_touches_total', help: 'Session checks on authenticated requests: ok (extended) or gone', labelNames: ['result'], registers })
  const redisSeconds = new Histogram({
    name: 'gatehouse_redis_operation_duration_seconds',
    help: 'Session store operations against Redis, by operation (touch is the hot path: one round trip)',
    labelNames: ['operation'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers,
  })
  const httpSeconds = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  })

  return {
    registry,
    liveSessions,
    liveSessionCount,
    logins: new Counter({ name: 'gatehouse_logins_total', help: 'Login attempts by result: ok, failed (wrong credentials), throttled (429), unverified (right password, email not confirmed: REQUIRE_VERIFIED_EMAIL), error', labelNames: ['result'], registers }),
    introspections: new Counter({ name: 'gatehouse_introspections_total', help: 'POST /introspect answers: active or inactive', labelNames: ['result'], registers }),
    throttled: new Counter({ name: 'gatehouse_throttled_total', help: 'Requests refused (429) by a brute-force limit', labelNames: ['limit'], registers }),
    mail: new Counter({
      name: 'gatehouse_mail_total',
      help: 'Account mails (password-reset, email-verification): sent, retried (an attempt failed, another is due) or dropped, with why (refused, attempts, queue_full, closed, budget, busy, error)',
      labelNames: ['kind', 'outcome', 'reason'],
      registers,
    }),
    touched: (result) => touches.inc({ result }),
    redisOperation: (operation, seconds) => redisSeconds.observe({ operation }, seconds),
    httpRequest: (method, route, statusCode, seconds) => httpSeconds.observe({ method, route, status_code: statusCode }, seconds),
    eventsFailed: new Counter({ name: 'gatehouse_events_publish_failures_total', help: 'Session events that could not be written to the stream', registers }),
    sweepsStopped: new Counter({
      name: 'gatehouse_revocation_sweeps_stopped_total',
      help: 'Revoke-alls that stopped deleting the ended sessions\' keys early (a Redis error, or over 10 minutes on one user\'s keys): the sessions are refused all the same, their keys expire on their own',
      registers,
    }),
    unreplicatedRevocations: new Counter({
      name: 'gatehouse_revocations_unreplicated_total',
      help: 'Logouts and revoke-alls that fewer than REDIS_WAIT_REPLICAS replicas confirmed in time: a failover right then could undo them',
      registers,
    }),
    events: async (events) => {
      for (const event of events) {
        if (event.type === 'created') created.inc()
        else if (event.type === 'revoked') revocations.inc({ reason: event.reason ?? '' })
        else if (event.type === 'expired') expirations.inc({ reason: event.reason ?? '' })
      }
    },
  }
}
