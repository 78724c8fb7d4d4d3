import { randomBytes } from 'node:crypto'
import { orUnavailable } from '../shared/errors.js'
import { forEachMaster, type RedisClient, scanBatches } from '../redis/client.js'
import { causeOf, endingOf, LOGGED_OUT, type SessionEnding } from './endings.js'
import type { DeletedBy, EventSink, RevokeReason, SessionEvent } from './events.js'
import { devicePage } from './device-list.js'
import { sessionKeys } from './keys.js'
import type { SessionPolicy, SessionTtl } from './session-ttl.js'
import { endCutOffSessions } from './revoke-sweep.js'
import { sessionScripts } from './scripts/index.js'
import { SESSION_PAGE_MAX, SUMMARY_READ, type LiveSession, type NewSession, type NewSessionInput, type Reach, type SessionInfo, type SessionPage, type SessionStatus, type SessionSummary, type SessionUser } from './types.js'

/**
 * How long a user's generation outlives a revoke-all: far longer than any login takes (a login
 * that read the old one is refused). The cutoff is kept much longer (revoke-all-sessions-5.lua).
 */
const GENERATION_TTL_MS = 24 * 3600 * 1000

/**
 * How long a session's owner key outlives the session's absolute end. Redis may delete an expired
 * key a little after its expiry time, and the expired event needs the owner until then.
 */
const OWNER_GRACE_MS = 3600 * 1000

export interface SessionStore {
  /** The marker every revoke-all changes; a login reads it before checking the password. */
  generation(userId: string): Promise<string>
  /** Null when the user's sessions were revoked after `input.generation` was read: check again. */
  create(input: NewSessionInput): Promise<NewSession | null>
  /** Checks the session is alive and slides its TTL, in one round trip. Null when it is gone. */
  touch(id: string, userId: string, reach?: Reach): Promise<LiveSession | null>
  /**
   * `touch`, and when the session is not live, why (for the 401): the touch's own verdict when it
   * ended the session, else what why-ended-4.lua remembers (a second, read-only round trip on that
   * path only).
   */
  authenticate(id: string, userId: string, reach: Reach): Promise<{ live: LiveSession } | { ending: SessionEnding }>
  /** Whether the session is alive, without extending it. Null when it is gone. */
  peek(id: string, userId: string, reach?: Reach): Promise<SessionStatus | null>
  /** Completes a session written by an older release with its user (and a layout-1 one with empty device fields). */
  upgrade(id: string, userId: string, user: SessionUser): Promise<void>
  /**
   * A page of the user's live sessions (at most SESSION_PAGE_MAX), newest first by creation, so a
   * page never moves under its reader (device-list.ts). `current`, the caller's own session, leads
   * the first page and is left out of the rest. `next` is null when no live session follows.
   */
  list(userId: string, page?: { limit?: number; after?: string; current?: string }): Promise<SessionPage>
  /**
   * The sessions of `entries` (any users) that are live, as the device list shows them, keyed
   * `<user_id>:<id>`; the ended ones are absent. Bounded by the caller (a page); one script per user.
   */
  describe(entries: Array<{ userId: string; id: string }>): Promise<Map<string, SessionInfo>>
  /**
   * Ends one session of this user; false when the user has no such session. `own`: the session
   * ended itself (a logout), which its app is told as `logged_out` rather than revoked.
   */
  revoke(id: string, userId: string, reason: RevokeReason, own?: boolean): Promise<boolean>
  /**
   * Every session the user has now (but `keep`, if given and live) is refused from this instant,
   * in one O(1) step, whatever their number; their keys stay until a `revokeAll` sweeps them.
   */
  cutOff(userId: string, keep?: string, reason?: RevokeReason): Promise<void>
  /**
   * Ends all the user's sessions (but `keep`): `cutOff`, then their keys are deleted a bounded
   * batch at a time, each batch's `revoked` events published. Returns how many it deleted before
   * answering (all of them unless that took SWEEP_INLINE_MS: the rest are deleted after). If the
   * deletion fails part-way, the sessions stay refused and their keys expire on their own.
   */
  revokeAll(userId: string, options: { reason: RevokeReason; keep?: string }): Promise<number>
  /**
   * Redis expired this session's key: publishes its `expired` event. Every instance is told;
   * only the one whose GETDEL gets the owner key publishes, so the event appears once.
   */
  expired(id: string, userId: string): Promise<void>
  /**
   * Records that the user confirmed the email at `at` (Unix ms), for the sessions that existed
   * then (their hashes say ''): `touch` reads it for them, in the same round trip.
   */
  markEmailVerified(userId: string, at: number): Promise<void>
  /** Publishes `user-deleted` once the account is gone (its sessions were ended first, with their own events). */
  userDeleted(userId: string, by: DeletedBy): Promise<void>
  /**
   * Each user's live sessions, counted, and their latest use (SessionSummary), for a page of users
   * (the caller bounds it: 100 at most for GET /admin/users): two rounds to Redis whatever the
   * number of users and sessions, each command bounded (SUMMARY_READ). A user without sessions is
   * there too (0, null).
   */
  summaries(userIds: readonly string[]): Promise<Map<string, SessionSummary>>
}

export interface SessionStoreOptions {
  keyPrefix: string
  /** The sliding TTL in force, seconds: asked on every call, since ops may change it at any time. */
  ttlSeconds: () => number
  /** The clients' own policies (session-ttl.ts), asked on every call; without it, every session has the global one. */
  policies?: Pick<SessionTtl, 'policyFor' | 'allPolicies' | 'windowFor' | 'loaded'>
  /** SESSION_MAX_AGE_SECONDS: the absolute lifetime, and the longest any client's may be. */
  maxAgeSeconds: number
  /** 0: no limit. */
  maxPerUser: number
  /** Where session events go (see events.ts). */
  events: EventSink
  /** Told how long each Redis operation took, for metrics. */
  observe?: (operation: string, seconds: number) => void
  /**
   * Replicas that must confirm a revocation before it is answered (REDIS_WAIT_REPLICAS), and how
   * long to wait for them. 0: do not wait (a single server, or accepting the failover window).
   */
  waitReplicas?: { count: number; timeoutMs: number; onShortfall: (operation: string, acknowledged: number) => void }
  /**
   * A revoke-all's deletion of keys stopped before it was done: an error, or SWEEP_MAX_MS. The
   * sessions are refused all the same; their keys expire on their own (logged by the app).
   */
  onSweepStopped?: (userId: string, deleted: number, err: unknown) => void
}

/** A session id: 128 random bits, base64url (22 characters). */
export function newSessionId (): string {
  return randomBytes(16).toString('base64url')
}

export function createSessionStore (redis: RedisClient, options: SessionStoreOptions): SessionStore {
  const { keyPrefix, ttlSeconds, maxAgeSeconds, maxPerUser, events, observe, waitReplicas, onSweepStopped } = options
  // Every change to a session is one atomic script (scripts/: each file says its race).
  const scripts = sessionScripts(redis, keyPrefix)
  const keys = sessionKeys(keyPrefix)
  const globalOnly = (): SessionPolicy => ({ ttlMs: ttlSeconds() * 1000, clients: {} })
  const policies = options.policies ?? {
    policyFor: globalOnly,
    allPolicies: globalOnly,
    windowFor: () => ({ ttlSeconds: ttlSeconds(), maxAgeSeconds }),
    loaded: async () => {},
  }
  // Not before the policies were read once (Redis down at start): a session of a client with a
  // longer window would otherwise be judged, and ended, by the global one.
  const policyFor = async (audience: string | null | undefined) => {
    await policies.loaded()
    return policies.policyFor(audience || null)
  }
  const allPolicies = async () => {
    await policies.loaded()
    return policies.allPolicies()
  }

  /**
   * Replication is asynchronous: a primary that dies right after acknowledging a logout may hand
   * over to a replica that never got it, and the session would live again. WAIT holds the answer
   * until `count` replicas have every write this connection made, the revocation included. It is
   * sent in a pipeline with a command on the user's key, so on a Cluster it reaches the primary
   * that ran the script (over the same connection). When too few confirm in time the revocation
   * still stands on the primary: it is answered, logged and counted, not refused.
   */
  async function replicated (operation: string, userId: string): Promise<void> {
    if (!waitReplicas || waitReplicas.count === 0) return
    const results = await redis.pipeline().exists(keys.index(userId)).wait(waitReplicas.count, waitReplicas.timeoutMs).exec()
    const [err, acknowledged] = results?.[1] ?? [new Error('WAIT got no reply')]
    if (err) throw err
    if (Number(acknowledged) < waitReplicas.count) waitReplicas.onShortfall(operation, Number(acknowledged))
  }

  /** Raises the user's cutoff (and generation): O(1), and from then on every older session is refused. */
  async function cutOff (userId: string, keep = '', reason: RevokeReason = 'admin'): Promise<void> {
    await scripts.revokeAllSessions({ userId, keep, policy: await allPolicies(), generationTtlMs: GENERATION_TTL_MS, maxAgeMs: maxAgeSeconds * 1000, cause: causeOf(reason) })
    // Always: the new cutoff is the revocation, and it must survive a failover.
    await replicated('revoke_all', userId)
  }

  /** Every Redis operation: timed for metrics, and a failure becomes a 503. */
  async function run<T> (operation: string, work: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint()
    try {
      return await orUnavailable('redis', work)
    } finally {
      observe?.(operation, Number(process.hrtime.bigint() - started) / 1e9)
    }
  }
  /** touch-session-6.lua: the live session, or the verdict when this call ended it ('ended'), or neither. */
  const touch = (id: string, userId: string, reach: Reach) =>
    run('touch', async (): Promise<{ live: LiveSession } | { ended?: 'idle' | 'max-age' }> => {
      const touched = await scripts.touchSession({ userId, id, policy: await policyFor(reach.audience), createdBefore: reach.createdBefore, audience: reach.audience })
      if (touched.status === 'ok') return { live: touched.session }
      if (touched.status !== 'ended') return {}
      await events([{ type: 'expired', sessionId: id, userId, reason: touched.reason, client: touched.client }])
      return { ended: touched.reason }
    })
  const whyEnded = (id: string, userId: string, reach: Reach) =>
    run('why_ended', async () => {
      const [reason, cause] = await scripts.whyEnded({ userId, id, policy: await policyFor(reach.audience), audience: reach.audience, createdAt: reach.createdAt ?? 0, expiresAt: reach.expiresAt ?? 0 })
      return endingOf(reason, cause)
    })
  const revoked = (ids: string[], userId: string, reason: RevokeReason): SessionEvent[] =>
    ids.map((sessionId) => ({ type: 'revoked', sessionId, userId, reason }))

  return {
    generation: (userId) => run('generation', async () => (await redis.get(keys.generation(userId))) ?? ''),
    create: (input) =>
      run('create', async () => {
        const { userId } = input
        // A 128-bit id does not collide in practice; the script still refuses to overwrite one.
        for (;;) {
          const id = newSessionId()
          await policies.loaded()
          const window = policies.windowFor(input.audience || null)
          const ttl = window.ttlSeconds * 1000
          const created = await scripts.createSession({ ...input, id, ttlMs: ttl, maxAgeMs: window.maxAgeSeconds * 1000, maxPerUser, ownerGraceMs: OWNER_GRACE_MS })
          if (created.status === 'stale') return null
          if (created.status === 'ok') {
            const { createdAt, maxExpiresAt, evicted } = created
            // The evicted sessions' clients are not read (their hashes are deleted in the script): ''.
            await events([{ type: 'created', sessionId: id, userId, client: input.device.client }, ...revoked(evicted, userId, 'cap')])
            // As create-session-n.lua set the key's expiry.
            const expiresAt = Math.min(createdAt + ttl, maxExpiresAt)
            return { id, createdAt, maxExpiresAt, expiresAt, idleTimeoutSeconds: Math.round(ttl / 1000), evicted }
          }
        }
      }),
    touch: async (id, userId, reach = {}) => {
      const touched = await touch(id, userId, reach)
      return 'live' in touched ? touched.live : null
    },
    authenticate: async (id, userId, reach) => {
      const touched = await touch(id, userId, reach)
      if ('live' in touched) return touched
      if (touched.ended) return { ending: { reason: touched.ended === 'max-age' ? 'max_age' : 'idle' } }
      return { ending: await whyEnded(id, userId, reach) }
    },
    peek: (id, userId, reach = {}) => run('peek', async () => scripts.peekSession({ userId, id, policy: await policyFor(reach.audience), createdBefore: reach.createdBefore, audience: reach.audience })),
    upgrade: (id, userId, user) =>
      run('upgrade', async () => {
        await scripts.upgradeSession({ userId, id, user })
      }),
    list: (userId, { limit = SESSION_PAGE_MAX, after, current } = {}) =>
      run('list', async () => devicePage(scripts, userId, { size: Math.max(1, Math.min(limit, SESSION_PAGE_MAX)), after, current, policy: await allPolicies() })),
    describe: (entries) =>
      run('describe', async () => {
        const byUser = new Map<string, string[]>()
        for (const { userId, id } of entries) {
          const ids = byUser.get(userId)
          if (ids) ids.push(id)
          else byUser.set(userId, [id])
        }
        const policy = await allPolicies()
        // list-sessions-n.lua decides which are live (session-state.lua: the one rule); each call stays in one user's slot.
        const lists = await Promise.all([...byUser].map(([userId, ids]) => scripts.listSessions({ userId, policy, ids }).then((sessions) => ({ userId, sessions }))))
        const live = new Map<string, SessionInfo>()
        for (const { userId, sessions } of lists) for (const session of sessions) live.set(`${userId}:${session.id}`, session)
        return live
      }),
    revoke: (id, userId, reason, own = false) =>
      run('revoke', async () => {
        const client = await scripts.revokeSession({ userId, id, ending: own ? LOGGED_OUT : causeOf(reason) })
        if (client === null) return false
        await replicated('revoke', userId)
        await events([{ type: 'revoked', sessionId: id, userId, reason, client }])
        return true
      }),
    cutOff: (userId, keep, reason) => run('cut_off', () => cutOff(userId, keep, reason)),
    revokeAll: (userId, { reason, keep }) =>
      run('revoke_all', async () => {
        await cutOff(userId, keep, reason)
        return await endCutOffSessions({ scripts, events, onSweepStopped }, userId, reason)
      }),
    expired: (id, userId) =>
      run('expired', async () => {
        if ((await redis.getdel(keys.owner(userId, id))) === null) return
        // Its index entries go with it, so the device list's creation index does not keep them.
        await redis.multi().zrem(keys.index(userId), id).zrem(keys.created(userId), id).exec()
        await events([{ type: 'expired', sessionId: id, userId, reason: 'ttl' }])
      }),
    userDeleted: (userId, by) => events([{ type: 'user-deleted', sessionId: '', userId, reason: by }]),
    summaries: (userIds) =>
      run('summaries', async () => {
        // Each command names one user's keys (one hash slot, so a Cluster takes it as it is), and a
        // round's commands, for every user of the page, are sent at once, not one user after
        // another: each round costs one round trip (on a Cluster, one per node, side by side).
        // First the index, scored by each session's expiry: how many entries are unexpired, and the
        // SUMMARY_READ of them that expire last (the most recently used).
        const now = Date.now()
        const policy = await allPolicies()
        const indexed = await Promise.all(userIds.map(async (userId) => {
          const index = keys.index(userId)
          const [unexpired, ids] = await Promise.all([
            redis.zcount(index, `(${now}`, '+inf'),
            redis.zrange(index, '+inf', `(${now}`, 'BYSCORE', 'REV', 'LIMIT', 0, SUMMARY_READ),
          ])
          return { userId, unexpired, ids }
        }))
        // Then their hashes, judged by the one rule for "live" (list-sessions-n.lua, as the device list).
        const summaries = await Promise.all(indexed.map(async ({ userId, unexpired, ids }): Promise<[string, SessionSummary]> => {
          const live = ids.length === 0 ? [] : await scripts.listSessions({ userId, policy, ids })
          const lastSeenAt = live.reduce<number | null>((latest, session) => Math.max(latest ?? 0, session.lastSeenAt), null)
          return [userId, { live: Math.max(0, unexpired - (ids.length - live.length)), lastSeenAt }]
        }))
        return new Map(summaries)
      }),
    markEmailVerified: (userId, at) =>
      run('mark-verified', async () => {
        // A session created before `at` lives at most SESSION_MAX_AGE_SECONDS: after that, every
        // live session was created after the confirmation and records it itself.
        await redis.set(keys.emailVerified(userId), String(at), 'PX', maxAgeSeconds * 1000 + OWNER_GRACE_MS)
      }),

  }
}

/** How many session hashes exist: a SCAN over the keyspace (every shard's), for metrics, never for requests. */
export async function countSessions (redis: RedisClient, keyPrefix: string): Promise<number> {
  const { sessionPattern } = sessionKeys(keyPrefix)
  const counts = await forEachMaster(redis, async (node) => {
    let total = 0
    for await (const keys of scanBatches(node, sessionPattern)) total += keys.length
    return total
  })
  return counts.reduce((a, b) => a + b, 0)
}
