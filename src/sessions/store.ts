import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Redis, Result } from 'ioredis'
import { orUnavailable } from '../http/errors.js'

declare module 'ioredis' {
  interface RedisCommander<Context> {
    createSession(session: string, index: string, generation: string, ...args: (string | number)[]): Result<string[], Context>
    touchSession(session: string, index: string, id: string, userId: string, ttlMs: number): Result<string | null, Context>
    upgradeSession(session: string, userId: string, role: string, layoutVersion: string): Result<number, Context>
    revokeSession(session: string, index: string, id: string, userId: string): Result<number, Context>
    revokeUserSessions(index: string, generation: string, sessionPrefix: string, userId: string, keep: string, generationTtlMs: number): Result<string[], Context>
    listSessions(index: string, sessionPrefix: string, userId: string): Result<string[], Context>
  }
}

/** The Redis layout version written to every session hash (`v`); see docs/session-contract.md. */
export const SESSION_LAYOUT_VERSION = '2'

/** How long a user's generation marker outlives a revoke-all: far longer than any login takes. */
const GENERATION_TTL_MS = 24 * 3600 * 1000

/** What a user can recognise a session by; recorded at login. Empty strings when unknown. */
export interface Device {
  client: string
  userAgent: string
  ip: string
}

export interface NewSessionInput {
  userId: string
  role: string
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

export interface LiveSession {
  /** '' for a layout-1 session, which predates roles (see `upgrade`). */
  role: string
}

export interface SessionStore {
  /** The marker every revoke-all changes; a login reads it before checking the password. */
  generation(userId: string): Promise<string>
  /** Null when the user's sessions were revoked after `input.generation` was read: check again. */
  create(input: NewSessionInput): Promise<NewSession | null>
  /** Checks the session is alive and slides its TTL, in one round trip. Null when it is gone. */
  touch(id: string, userId: string): Promise<LiveSession | null>
  /** Adds the role (and empty device fields) to a layout-1 session. */
  upgrade(id: string, userId: string, role: string): Promise<void>
  /** The user's live sessions, most recently used first. */
  list(userId: string): Promise<SessionInfo[]>
  /** Ends one session of this user; false when the user has no such session. */
  revoke(id: string, userId: string): Promise<boolean>
  /** Ends all the user's sessions (but `keep`, if given); returns the ids ended. */
  revokeAll(userId: string, options?: { keep?: string }): Promise<string[]>
}

export interface SessionStoreOptions {
  keyPrefix: string
  ttlSeconds: number
  maxAgeSeconds: number
  /** 0: no limit. */
  maxPerUser: number
}

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8')

/** A session id: 128 random bits, base64url (22 characters). */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url')
}

export function createSessionStore(redis: Redis, options: SessionStoreOptions): SessionStore {
  const { keyPrefix, ttlSeconds, maxAgeSeconds, maxPerUser } = options
  // Loaded once and called by SHA (EVALSHA, falling back to EVAL after a Redis restart).
  redis.defineCommand('createSession', { numberOfKeys: 3, lua: lua('create-session') })
  redis.defineCommand('touchSession', { numberOfKeys: 2, lua: lua('touch-session') })
  redis.defineCommand('upgradeSession', { numberOfKeys: 1, lua: lua('upgrade-session') })
  redis.defineCommand('revokeSession', { numberOfKeys: 2, lua: lua('revoke-session') })
  redis.defineCommand('revokeUserSessions', { numberOfKeys: 2, lua: lua('revoke-user-sessions') })
  redis.defineCommand('listSessions', { numberOfKeys: 1, lua: lua('list-sessions') })

  const sessionPrefix = `${keyPrefix}sess:`
  const key = (id: string) => sessionPrefix + id
  const indexKey = (userId: string) => `${keyPrefix}user:${userId}:sessions`
  const generationKey = (userId: string) => `${keyPrefix}user:${userId}:generation`

  return {
    generation: (userId) => orUnavailable('redis', async () => (await redis.get(generationKey(userId))) ?? ''),
    create: ({ userId, role, device, generation }) =>
      orUnavailable('redis', async () => {
        // A 128-bit id does not collide in practice; the script still refuses to overwrite one.
        for (;;) {
          const id = newSessionId()
          const [status, createdAt, maxExpiresAt, ...evicted] = await redis.createSession(
            key(id), indexKey(userId), generationKey(userId),
            id, userId, role, ttlSeconds * 1000, maxAgeSeconds * 1000, SESSION_LAYOUT_VERSION,
            generation, maxPerUser, sessionPrefix, device.client, device.userAgent, device.ip,
          )
          if (status === 'stale') return null
          if (status === 'ok') return { id, createdAt: Number(createdAt), maxExpiresAt: Number(maxExpiresAt), evicted }
        }
      }),
    touch: (id, userId) =>
      orUnavailable('redis', async () => {
        const role = await redis.touchSession(key(id), indexKey(userId), id, userId, ttlSeconds * 1000)
        return role === null ? null : { role }
      }),
    upgrade: (id, userId, role) =>
      orUnavailable('redis', async () => {
        await redis.upgradeSession(key(id), userId, role, SESSION_LAYOUT_VERSION)
      }),
    list: (userId) =>
      orUnavailable('redis', async () => {
        const flat = await redis.listSessions(indexKey(userId), sessionPrefix, userId)
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
    revoke: (id, userId) => orUnavailable('redis', async () => (await redis.revokeSession(key(id), indexKey(userId), id, userId)) === 1),
    revokeAll: (userId, { keep = '' } = {}) =>
      orUnavailable('redis', () => redis.revokeUserSessions(indexKey(userId), generationKey(userId), sessionPrefix, userId, keep, GENERATION_TTL_MS)),
  }
}
