import { randomBytes } from 'node:crypto'
import { orUnavailable } from '../shared/errors.js'
import { forEachMaster, type RedisClient, scanBatches } from '../redis/client.js'
import { causeOf, endingOf, LOGGED_OUT, type SessionEnding } from './endings.js'
import type { DeletedBy, EventSink, RevokeReason, SessionEvent } from './events.js'
import { devicePage } from './device-list.js'
import { sessionKeys } from './keys.js'
import type { SessionPolicy, SessionTtl } from './session-ttl.js'
import { sessionScripts } from './scripts/index.js'

export { SESSION_LAYOUT_VERSION } from './keys.js'

/**
 * How long a user's generation outlives a revoke-all: far longer than any login takes (a login
 * that read the old one is refused). The cutoff is kept much longer (revoke-all-sessions-5.lua).
 */
const GENERATION_TTL_MS = 24 * 3600 * 1000

/** Most sessions in one page of a listing (GET /sessions, the admin's, the CLI's). */
export const SESSION_PAGE_MAX = 100

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

/**
 * How long a session's owner key outlives the session's absolute end. Redis may delete an expired
 * key a little after its expiry time, and the expired event needs the owner until then.
 */
const OWNER_GRACE_MS = 3600 * 1000

/** What a user can recognise a session by; recorded at login. Empty strings when unknown. */
export interface Device {
  client: string
  userAgent: string
  ip: string
}

export interface NewSessionInput {
  userId: string
  /** The audience the token is bound to (JWT-Aud), null for none: the client whose policy the session falls under. */
  audience?: string | null
  role: string
  /** The user's email and sign-up time (Unix ms): stored so GET /me needs no database. */
  email: string
  userCreatedAt: number
  /** Unix ms when the user confirmed the email; 0 or absent if not (yet). Stored so GET /me needs no database once it is set. */
  emailVerifiedAt?: number
  device: Device
  /** The user's generation, read (with `generation()`) before the password was checked. */
  generation: string
}

export interface NewSession {
  id: string
  /** Unix ms, Redis clock. */
  createdAt: number
  /** Unix ms: the absolute end of the session, equal to the token's exp * 1000. */
  maxExpiresAt: number
  /** Unix ms: when the session ends if it is not used again (the sliding window's end, at most maxExpiresAt). */
  expiresAt: number
  /** The sliding window in force at login, seconds (ops may change it while the session lives). */
  idleTimeoutSeconds: number
  /** Sessions of the same user ended to stay within SESSION_MAX_PER_USER. */
  evicted: string[]
}

export interface SessionInfo extends Device {
  id: string
  /** Unix ms, all of them. */
  createdAt: number
  lastSeenAt: number
  /** When the sliding window runs out if the session is not used again. */
  expiresAt: number
  /** The absolute end under its policy now (a client's maximum age, lowered since the login, brings it forward). */
  maxExpiresAt: number
  /** The client (audience) whose policy it falls under; '' for the global one. */
  audience: string
}

/** The user a session belongs to, as its hash records it. */
export interface SessionUser {
  role: string
  email: string
  /** Unix ms. */
  userCreatedAt: number
}

/**
 * A live session's user. A session written by an older release lacks some of it ('' and 0): a
 * layout-1 one has no role, and older layout-3 ones lack the email and sign-up time
 * (see `upgrade`).
 */
export interface LiveSession extends SessionUser {
  /** Unix ms when the user confirmed the email: as recorded at login, or a confirmation made since (markEmailVerified); 0 if neither. */
  emailVerifiedAt: number
}

/** A live session, as introspection shows it (all times Unix ms). */
export interface SessionStatus extends SessionUser {
  createdAt: number
  lastSeenAt: number
  expiresAt: number
  maxExpiresAt: number
}

/**
 * What the token says that decides which session it reaches and under which policy: only sessions
 * created before `createdBefore` (Unix ms), when given (a former HS256 secret's token); only one
 * bound to its audience (null: unbound). Its created_at and exp (Unix ms) tell why a session is gone.
 */
export interface Reach {
  createdBefore?: number
  audience?: string | null
  createdAt?: number
  expiresAt?: number
}

export interface SessionPage {
  sessions: SessionInfo[]
  /** Pass it back (as `after`) for the next page; null on the last one. */
  next: string | null
}

/**
 * Where a page of sessions goes on from: the last entry of the page before, as `<score>.<id>`
 * (its index score, and its id). Opaque to API clients; the pattern is also the API's check.
 */
export const SESSION_CURSOR_PATTERN = '^[0-9]{1,16}\\.[A-Za-z0-9_-]{22}$'

/**
 * Of each user on an admin's page of users, how many of the user's index entries with the latest
 * expiry are read in full (list-sessions-n.lua): the live count is exact for a user with at most this
 * many unexpired entries, and so is the latest use for a user whose sessions share one idle window.
 */
export const SUMMARY_READ = 10

/** A user's sessions at a glance, for the admin's list of users (`summaries`). */
export interface SessionSummary {
  /**
   * The user's live sessions. Exact up to SUMMARY_READ unexpired index entries; above that, the
   * number of unexpired entries less those of the SUMMARY_READ read that were not live (a session
   * that a revoke-all's sweep or ops' ending of its client left in the index is counted until its
   * key goes).
   */
  live: number
  /** Unix ms: the latest use among the live sessions read (those with the latest expiry); null when none. */
  lastSeenAt: number | null
}

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
  async function sweep (userId: string, reason: RevokeReason, budgetMs: number): Promise<{ ended: number; done: boolean }> {
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
        const { ended, done } = await sweep(userId, reason, SWEEP_INLINE_MS)
        if (!done) {
          // The answer goes now; the rest of the keys are deleted after it.
          void sweep(userId, reason, SWEEP_MAX_MS).then(({ done: finished }) => {
            if (!finished) onSweepStopped?.(userId, ended, new Error(`still deleting keys after ${(SWEEP_INLINE_MS + SWEEP_MAX_MS) / 1000} s`))
          })
        }
        return ended
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
