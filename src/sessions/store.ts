import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Result } from 'ioredis'
import { orUnavailable } from '../http/errors.js'
import { forEachMaster, type RedisClient, scanBatches } from '../redis/client.js'
import type { EventSink, RevokeReason, SessionEvent } from './events.js'
import { sessionKeys } from './keys.js'

declare module 'ioredis' {
  interface RedisCommander<Context> {
    // Scripts whose key count varies are called as (numberOfKeys, ...keys, ...args).
    createSession(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Result<string[], Context>
    touchSession(session: string, index: string, owner: string, id: string, userId: string, ttlMs: number): Result<string[], Context>
    peekSession(session: string, userId: string, ttlMs: number): Result<string[] | null, Context>
    upgradeSession(session: string, userId: string, role: string, email: string, userCreatedAt: number, layoutVersion: string): Result<number, Context>
    revokeSession(session: string, index: string, owner: string, id: string, userId: string): Result<number, Context>
    revokeUserSessions(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Result<string[], Context>
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

/** How long a user's generation marker outlives a revoke-all: far longer than any login takes. */
const GENERATION_TTL_MS = 24 * 3600 * 1000

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
  /** The user's live sessions, most recently used first. */
  list(userId: string): Promise<SessionInfo[]>
  /** Ends one session of this user; false when the user has no such session. */
  revoke(id: string, userId: string, reason: RevokeReason): Promise<boolean>
  /** Ends all the user's sessions (but `keep`, if given); returns the ids ended. */
  revokeAll(userId: string, options: { reason: RevokeReason; keep?: string }): Promise<string[]>
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
}

/** A session script's source, from src/sessions/lua/ (copied beside the build). */
export const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8')

/** A session id: 128 random bits, base64url (22 characters). */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url')
}

export function createSessionStore(redis: RedisClient, options: SessionStoreOptions): SessionStore {
  const { keyPrefix, ttlSeconds, maxAgeSeconds, maxPerUser, events, observe, waitReplicas } = options
  // Loaded once and called by SHA (EVALSHA, falling back to EVAL after a Redis restart). Every
  // script declares every key it touches, all in the user's hash slot (keys.ts): Cluster-safe.
  redis.defineCommand('createSession', { lua: lua('create-session') })
  redis.defineCommand('touchSession', { numberOfKeys: 3, lua: lua('touch-session') })
  redis.defineCommand('peekSession', { numberOfKeys: 1, lua: lua('peek-session') })
  redis.defineCommand('upgradeSession', { numberOfKeys: 1, lua: lua('upgrade-session') })
  redis.defineCommand('revokeSession', { numberOfKeys: 3, lua: lua('revoke-session') })
  redis.defineCommand('revokeUserSessions', { lua: lua('revoke-user-sessions') })
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
  async function replicated(operation: string, userId: string): Promise<void> {
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
  async function withIndexMembers(userId: string, call: (ids: string[]) => Promise<string[]>): Promise<string[]> {
    const known = new Set<string>()
    for (let attempt = 1; ; attempt++) {
      const reply = await call([...known])
      if (reply[0] !== 'members') return reply
      if (attempt === MEMBER_ATTEMPTS) throw new Error(`the sessions of user ${userId} changed during each of ${MEMBER_ATTEMPTS} attempts`)
      for (const id of reply.slice(1)) known.add(id)
      if (attempt > 1) await sleep(Math.random() * 5 * attempt)
    }
  }

  /** Every Redis operation: timed for metrics, and a failure becomes a 503. */
  async function run<T>(operation: string, work: () => Promise<T>): Promise<T> {
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
              4 + 2 * ids.length,
              keys.session(userId, id), keys.index(userId), keys.generation(userId), keys.owner(userId, id),
              ...ids.flatMap((other) => [keys.session(userId, other), keys.owner(userId, other)]),
              id, userId, role, ttlMs(), maxAgeSeconds * 1000, SESSION_LAYOUT_VERSION,
              generation, maxPerUser, device.client, device.userAgent, device.ip, OWNER_GRACE_MS,
              email, userCreatedAt, ...ids,
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
        const [status, detail = '', email = '', userCreatedAt = ''] = await redis.touchSession(keys.session(userId, id), keys.index(userId), keys.owner(userId, id), id, userId, ttlMs())
        if (status === 'ok') return { role: detail, email, userCreatedAt: Number(userCreatedAt) }
        if (status === 'ended') await events([{ type: 'expired', sessionId: id, userId, reason: detail as 'idle' | 'max-age' }])
        return null
      }),
    peek: (id, userId) =>
      run('peek', async () => {
        const found = await redis.peekSession(keys.session(userId, id), userId, ttlMs())
        if (!found) return null
        const [role = '', createdAt, lastSeenAt, expiresAt, maxExpiresAt, email = '', userCreatedAt = ''] = found
        return {
          role, email, userCreatedAt: Number(userCreatedAt),
          createdAt: Number(createdAt), lastSeenAt: Number(lastSeenAt), expiresAt: Number(expiresAt), maxExpiresAt: Number(maxExpiresAt),
        }
      }),
    upgrade: (id, userId, user) =>
      run('upgrade', async () => {
        await redis.upgradeSession(keys.session(userId, id), userId, user.role, user.email, user.userCreatedAt, SESSION_LAYOUT_VERSION)
      }),
    list: (userId) =>
      run('list', async () => {
        // The script must be given every key it reads (Cluster): the index names them.
        const ids = await redis.zrange(keys.index(userId), '0', '-1')
        const flat = await redis.listSessions(1 + ids.length, keys.index(userId), ...ids.map((id) => keys.session(userId, id)), userId, ttlMs(), ...ids)
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
        return sessions.sort((a, b) => b.lastSeenAt - a.lastSeenAt)
      }),
    revoke: (id, userId, reason) =>
      run('revoke', async () => {
        const ended = (await redis.revokeSession(keys.session(userId, id), keys.index(userId), keys.owner(userId, id), id, userId)) === 1
        if (ended) await replicated('revoke', userId)
        if (ended) await events(revoked([id], userId, reason))
        return ended
      }),
    revokeAll: (userId, { reason, keep = '' }) =>
      run('revoke_all', async () => {
        // Two steps (see the script): change the generation and learn every session, then end them.
        const call = (phase: 'start' | 'end', ids: string[]) =>
          redis.revokeUserSessions(
            2 + 2 * ids.length,
            keys.index(userId), keys.generation(userId), ...ids.flatMap((id) => [keys.session(userId, id), keys.owner(userId, id)]),
            userId, keep, GENERATION_TTL_MS, phase, ...ids,
          )
        const [, ...existing] = await call('start', [])
        const [, ...ended] = await call('end', existing)
        // Always: even with nothing to end, the new generation must survive a failover.
        await replicated('revoke_all', userId)
        await events(revoked(ended, userId, reason))
        return ended
      }),
    expired: (id, userId) =>
      run('expired', async () => {
        if ((await redis.getdel(keys.owner(userId, id))) !== null) await events([{ type: 'expired', sessionId: id, userId, reason: 'ttl' }])
      }),
  }
}

/** How many session hashes exist: a SCAN over the keyspace (every shard's), for metrics, never for requests. */
export async function countSessions(redis: RedisClient, keyPrefix: string): Promise<number> {
  const { sessionPattern } = sessionKeys(keyPrefix)
  const counts = await forEachMaster(redis, async (node) => {
    let total = 0
    for await (const keys of scanBatches(node, sessionPattern)) total += keys.length
    return total
  })
  return counts.reduce((a, b) => a + b, 0)
}
