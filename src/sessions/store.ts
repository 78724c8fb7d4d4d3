import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Result } from 'ioredis'
import { orUnavailable } from '../shared/errors.js'
import { forEachMaster, type RedisClient, scanBatches } from '../redis/client.js'
import type { EventSink, RevokeReason, SessionEvent } from './events.js'
import { sessionKeys } from './keys.js'

declare module 'ioredis' {
  interface RedisCommander<Context> {
    // Scripts whose key count varies are called as (numberOfKeys, ...keys, ...args).
    createSession(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Result<string[], Context>
    touchSession(session: string, index: string, owner: string, cutoff: string, id: string, userId: string, ttlMs: number): Result<string[], Context>
    peekSession(session: string, cutoff: string, userId: string, ttlMs: number): Result<string[] | null, Context>
    upgradeSession(session: string, userId: string, role: string, email: string, userCreatedAt: number, layoutVersion: string): Result<number, Context>
    revokeSession(session: string, index: string, owner: string, id: string, userId: string): Result<number, Context>
    revokeAllSessions(cutoff: string, generation: string, index: string, keep: string, userId: string, keepId: string, ttlMs: number, generationMs: number, maxAgeMs: number): Result<string, Context>
    endRevokedSessions(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Result<string[], Context>
    sessionPage(index: string, limit: number, cursorScore: string, cursorId: string): Result<string[], Context>
    listSessions(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Result<string[], Context>
  }
}

/** The Redis layout version written to every session hash (`v`); see docs/session-contract.md. */
export const SESSION_LAYOUT_VERSION = '3'

/**
 * How many times a login over the cap is tried before giving up (see withIndexMembers): each
 * attempt after the second needs the sessions to evict to have changed within its round trip,
 * which a storm of logins of one account could do: 503.
 */
const MEMBER_ATTEMPTS = 10

/**
 * How long a user's generation outlives a revoke-all: far longer than any login takes (a login
 * that read the old one is refused). The cutoff is kept much longer (revoke-all-sessions.lua).
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
  role: string
  /** The user's email and sign-up time (Unix ms): stored so GET /me needs no database. */
  email: string
  userCreatedAt: number
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
  maxExpiresAt: number
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
 * layout-1 one has no role, and none before the performance release has the email or sign-up time
 * (see `upgrade`).
 */
export type LiveSession = SessionUser

/** A live session, as introspection shows it (all times Unix ms). */
export interface SessionStatus extends LiveSession {
  createdAt: number
  lastSeenAt: number
  expiresAt: number
  maxExpiresAt: number
}

/** One page of a user's sessions, most recently used first. */
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

export interface SessionStore {
  /** The marker every revoke-all changes; a login reads it before checking the password. */
  generation(userId: string): Promise<string>
  /** Null when the user's sessions were revoked after `input.generation` was read: check again. */
  create(input: NewSessionInput): Promise<NewSession | null>
  /** Checks the session is alive and slides its TTL, in one round trip. Null when it is gone. */
  touch(id: string, userId: string): Promise<LiveSession | null>
  /** Whether the session is alive, without extending it. Null when it is gone. */
  peek(id: string, userId: string): Promise<SessionStatus | null>
  /** Completes a session written by an older release with its user (and a layout-1 one with empty device fields). */
  upgrade(id: string, userId: string, user: SessionUser): Promise<void>
  /** A page of the user's live sessions, most recently used first (at most SESSION_PAGE_MAX). */
  list(userId: string, page?: { limit?: number; after?: string }): Promise<SessionPage>
  /** Ends one session of this user; false when the user has no such session. */
  revoke(id: string, userId: string, reason: RevokeReason): Promise<boolean>
  /**
   * Every session the user has now (but `keep`, if given and live) is refused from this instant,
   * in one O(1) step, whatever their number; their keys stay until a `revokeAll` sweeps them.
   */
  cutOff(userId: string, keep?: string): Promise<void>
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
}

export interface SessionStoreOptions {
  keyPrefix: string
  /** The sliding TTL in force, seconds: asked on every call, since ops may change it at any time. */
  ttlSeconds: () => number
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

/**
 * A session script's source, from src/sessions/lua/ (copied beside the build), with each
 * `--- @include "<name>"` line replaced by lua/includes/<name>.lua: shared pieces, such as the
 * rule for whether a session is live, are written once (the form BullMQ's scripts use).
 */
export function lua (name: string): string {
  const source = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8')
  return source.replace(/^--- @include "([a-z-]+)"$/gm, (_line, include: string) =>
    readFileSync(new URL(`./lua/includes/${include}.lua`, import.meta.url), 'utf8').trimEnd())
}

/** A session id: 128 random bits, base64url (22 characters). */
export function newSessionId (): string {
  return randomBytes(16).toString('base64url')
}

export function createSessionStore (redis: RedisClient, options: SessionStoreOptions): SessionStore {
  const { keyPrefix, ttlSeconds, maxAgeSeconds, maxPerUser, events, observe, waitReplicas, onSweepStopped } = options
  // Loaded once and called by SHA (EVALSHA, falling back to EVAL after a Redis restart). Every
  // script declares every key it touches, all in the user's hash slot (keys.ts): Cluster-safe.
  redis.defineCommand('createSession', { lua: lua('create-session') })
  redis.defineCommand('touchSession', { numberOfKeys: 4, lua: lua('touch-session') })
  redis.defineCommand('peekSession', { numberOfKeys: 2, lua: lua('peek-session') })
  redis.defineCommand('upgradeSession', { numberOfKeys: 1, lua: lua('upgrade-session') })
  redis.defineCommand('revokeSession', { numberOfKeys: 3, lua: lua('revoke-session') })
  redis.defineCommand('revokeAllSessions', { numberOfKeys: 4, lua: lua('revoke-all-sessions') })
  redis.defineCommand('endRevokedSessions', { lua: lua('end-revoked-sessions') })
  redis.defineCommand('sessionPage', { numberOfKeys: 1, lua: lua('session-page') })
  redis.defineCommand('listSessions', { lua: lua('list-sessions') })

  const keys = sessionKeys(keyPrefix)
  const ttlMs = () => ttlSeconds() * 1000

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

  /**
   * Calls create-session.lua, which may need the keys of the user's other sessions to evict one:
   * Cluster requires a script to declare every key it touches, and only the index names them.
   * The script answers 'members', with the index as it is now, when a session it must evict was
   * not declared; it is then called again with those. Concurrent logins add the newest sessions
   * and eviction takes the oldest, so a second call nearly always does; ids are never reused, so
   * the ids seen are kept across attempts.
   */
  async function withIndexMembers (userId: string, call: (ids: string[]) => Promise<string[]>): Promise<string[]> {
    const known = new Set<string>()
    for (let attempt = 1; ; attempt++) {
      const reply = await call([...known])
      if (reply[0] !== 'members') return reply
      if (attempt === MEMBER_ATTEMPTS) throw new Error(`the sessions of user ${userId} changed during each of ${MEMBER_ATTEMPTS} attempts`)
      for (const id of reply.slice(1)) known.add(id)
      if (attempt > 1) await sleep(Math.random() * 5 * attempt)
    }
  }

  /** Raises the user's cutoff (and generation): O(1), and from then on every older session is refused. */
  async function cutOff (userId: string, keep = ''): Promise<void> {
    await redis.revokeAllSessions(keys.cutoff(userId), keys.generation(userId), keys.index(userId), keys.session(userId, keep), userId, keep, ttlMs(), GENERATION_TTL_MS, maxAgeSeconds * 1000)
    // Always: the new cutoff is the revocation, and it must survive a failover.
    await replicated('revoke_all', userId)
  }

  /**
   * Deletes the keys of the user's cut-off sessions, walking the index a page at a time, as a
   * listing does (session-page.lua: O(log n + page) per call, from the last entry's place, which
   * holds even as that entry is deleted), and ending each page's revoked sessions in one call
   * (end-revoked-sessions.lua): no Redis call grows with the user's number of sessions. (ZSCAN
   * would not do: while Redis shrinks the set's hash table, one ZSCAN step can walk a great many
   * empty buckets.) Cut-off sessions never move in the index, since nothing extends them; sessions
   * created or kept since the cutoff are passed over. Stops after `budgetMs` (done: false). The
   * sessions are over already, so this never fails the revoke-all: an error stops it, is reported,
   * and leaves the rest to expire on their own.
   */
  async function sweep (userId: string, reason: RevokeReason, budgetMs: number): Promise<{ ended: number; done: boolean }> {
    const index = keys.index(userId)
    const started = Date.now()
    let ended = 0
    // One step ahead: the next page is read, and the last batch's events published, while a batch
    // is being ended (at most one of each, so nothing piles up in memory).
    let page = redis.sessionPage(index, SWEEP_BATCH, '', '')
    let publishing: Promise<void> = Promise.resolve()
    try {
      for (;;) {
        const entries = await page
        const ids = entries.filter((_, i) => i % 2 === 0)
        const more = ids.length === SWEEP_BATCH
        if (more) page = redis.sessionPage(index, SWEEP_BATCH, entries.at(-1)!, ids.at(-1)!)
        if (ids.length > 0) {
          const gone = await redis.endRevokedSessions(2 + 2 * ids.length, index, keys.cutoff(userId), ...ids.flatMap((id) => [keys.session(userId, id), keys.owner(userId, id)]), userId, ...ids)
          ended += gone.length
          await publishing
          publishing = events(revoked(gone, userId, reason))
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
  const revoked = (ids: string[], userId: string, reason: RevokeReason): SessionEvent[] =>
    ids.map((sessionId) => ({ type: 'revoked', sessionId, userId, reason }))

  return {
    generation: (userId) => run('generation', async () => (await redis.get(keys.generation(userId))) ?? ''),
    create: ({ userId, role, device, generation, email, userCreatedAt }) =>
      run('create', async () => {
        // A 128-bit id does not collide in practice; the script still refuses to overwrite one.
        for (;;) {
          const id = newSessionId()
          const [status, createdAt, maxExpiresAt, ...evicted] = await withIndexMembers(userId, (ids) =>
            redis.createSession(
              5 + 2 * ids.length,
              keys.session(userId, id), keys.index(userId), keys.generation(userId), keys.owner(userId, id), keys.cutoff(userId),
              ...ids.flatMap((other) => [keys.session(userId, other), keys.owner(userId, other)]),
              id, userId, role, ttlMs(), maxAgeSeconds * 1000, SESSION_LAYOUT_VERSION,
              generation, maxPerUser, device.client, device.userAgent, device.ip, OWNER_GRACE_MS,
              email, userCreatedAt, ...ids
            ))
          if (status === 'stale') return null
          if (status === 'ok') {
            await events([{ type: 'created', sessionId: id, userId }, ...revoked(evicted, userId, 'cap')])
            return { id, createdAt: Number(createdAt), maxExpiresAt: Number(maxExpiresAt), evicted }
          }
        }
      }),
    touch: (id, userId) =>
      run('touch', async () => {
        const [status, detail = '', email = '', userCreatedAt = ''] = await redis.touchSession(keys.session(userId, id), keys.index(userId), keys.owner(userId, id), keys.cutoff(userId), id, userId, ttlMs())
        if (status === 'ok') return { role: detail, email, userCreatedAt: Number(userCreatedAt) }
        if (status === 'ended') await events([{ type: 'expired', sessionId: id, userId, reason: detail as 'idle' | 'max-age' }])
        return null
      }),
    peek: (id, userId) =>
      run('peek', async () => {
        const found = await redis.peekSession(keys.session(userId, id), keys.cutoff(userId), userId, ttlMs())
        if (!found) return null
        const [role = '', createdAt, lastSeenAt, expiresAt, maxExpiresAt, email = '', userCreatedAt = ''] = found
        return {
          role,
          email,
          userCreatedAt: Number(userCreatedAt),
          createdAt: Number(createdAt),
          lastSeenAt: Number(lastSeenAt),
          expiresAt: Number(expiresAt),
          maxExpiresAt: Number(maxExpiresAt),
        }
      }),
    upgrade: (id, userId, user) =>
      run('upgrade', async () => {
        await redis.upgradeSession(keys.session(userId, id), userId, user.role, user.email, user.userCreatedAt, SESSION_LAYOUT_VERSION)
      }),
    list: (userId, { limit = SESSION_PAGE_MAX, after } = {}) =>
      run('list', async () => {
        const size = Math.max(1, Math.min(limit, SESSION_PAGE_MAX))
        const [afterScore = '', afterId = ''] = after?.split('.') ?? []
        // Two bounded steps: the page's ids from the index, then their hashes (a Cluster script
        // must be given every key it reads, and only the index names them).
        const entries = await redis.sessionPage(keys.index(userId), size, afterScore, afterId)
        const ids = entries.filter((_, i) => i % 2 === 0)
        const flat = ids.length === 0 ? [] : await redis.listSessions(2 + ids.length, keys.index(userId), keys.cutoff(userId), ...ids.map((id) => keys.session(userId, id)), userId, ttlMs(), ...entries)
        const sessions: SessionInfo[] = []
        for (let i = 0; i + 8 <= flat.length; i += 8) {
          const field = (n: number) => flat[i + n] ?? ''
          sessions.push({
            id: field(0),
            client: field(1),
            userAgent: field(2),
            ip: field(3),
            createdAt: Number(field(4)),
            lastSeenAt: Number(field(5)),
            expiresAt: Number(field(6)),
            maxExpiresAt: Number(field(7)),
          })
        }
        // A full page may have more after it; the next one goes on from its last entry.
        const next = ids.length === size ? `${entries.at(-1)}.${ids.at(-1)}` : null
        return { sessions, next }
      }),
    revoke: (id, userId, reason) =>
      run('revoke', async () => {
        const ended = (await redis.revokeSession(keys.session(userId, id), keys.index(userId), keys.owner(userId, id), id, userId)) === 1
        if (ended) await replicated('revoke', userId)
        if (ended) await events(revoked([id], userId, reason))
        return ended
      }),
    cutOff: (userId, keep) => run('cut_off', () => cutOff(userId, keep)),
    revokeAll: (userId, { reason, keep }) =>
      run('revoke_all', async () => {
        await cutOff(userId, keep)
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
        if ((await redis.getdel(keys.owner(userId, id))) !== null) await events([{ type: 'expired', sessionId: id, userId, reason: 'ttl' }])
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
