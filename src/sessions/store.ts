import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Redis, Result } from 'ioredis'
import { orUnavailable } from '../http/errors.js'

declare module 'ioredis' {
  interface RedisCommander<Context> {
    createSession(key: string, userId: string, ttlMs: number, maxAgeMs: number, layoutVersion: string): Result<[string, string] | null, Context>
    touchSession(key: string, userId: string, ttlMs: number): Result<number | null, Context>
  }
}

/** The Redis layout version written to every session hash (`v`); see docs/session-contract.md. */
export const SESSION_LAYOUT_VERSION = '1'

export interface NewSession {
  id: string
  /** Unix ms, Redis clock. */
  createdAt: number
  /** Unix ms: the absolute end of the session, equal to the token's exp * 1000. */
  maxExpiresAt: number
}

export interface SessionStore {
  /** The Redis key of a session: `<prefix>sess:<id>`. */
  key(id: string): string
  create(userId: string): Promise<NewSession>
  /** Checks the session is alive and slides its TTL, in one round trip. False when it is gone. */
  touch(id: string, userId: string): Promise<boolean>
  revoke(id: string): Promise<void>
}

export interface SessionStoreOptions {
  keyPrefix: string
  ttlSeconds: number
  maxAgeSeconds: number
}

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8')

/** A session id: 128 random bits, base64url (22 characters). */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url')
}

export function createSessionStore(redis: Redis, { keyPrefix, ttlSeconds, maxAgeSeconds }: SessionStoreOptions): SessionStore {
  // Loaded once and called by SHA (EVALSHA, falling back to EVAL after a Redis restart).
  redis.defineCommand('createSession', { numberOfKeys: 1, lua: lua('create-session') })
  redis.defineCommand('touchSession', { numberOfKeys: 1, lua: lua('touch-session') })
  const key = (id: string) => `${keyPrefix}sess:${id}`

  return {
    key,
    create: (userId) =>
      orUnavailable('redis', async () => {
        // A 128-bit id does not collide in practice; the script still refuses to overwrite one.
        for (;;) {
          const id = newSessionId()
          const created = await redis.createSession(key(id), userId, ttlSeconds * 1000, maxAgeSeconds * 1000, SESSION_LAYOUT_VERSION)
          if (created) return { id, createdAt: Number(created[0]), maxExpiresAt: Number(created[1]) }
        }
      }),
    touch: (id, userId) => orUnavailable('redis', async () => (await redis.touchSession(key(id), userId, ttlSeconds * 1000)) !== null),
    revoke: (id) =>
      orUnavailable('redis', async () => {
        await redis.del(key(id))
      }),
  }
}
