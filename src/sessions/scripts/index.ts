import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { RedisClient, VARIABLE_KEY_SCRIPTS } from '../../redis/client.js'
import { legacyKeys, SESSION_LAYOUT_VERSION, sessionKeys } from '../keys.js'
import type { SessionPolicy } from '../session-ttl.js'
import type { LiveSession, NewSessionInput, SessionInfo, SessionStatus, SessionUser } from '../store.js'

/**
 * The session scripts, each an ioredis command loaded from the `.lua` file of that name here
 * (copied beside the build). Each file's header says its KEYS, ARGV, reply and the race it closes;
 * the wrappers below build the KEYS from the user's id and the session ids (keys.ts: all in the
 * user's hash slot, so every script is Cluster-safe), encode the arguments and decode the reply.
 */
/**
 * A session's last use is written at most this often (or every tenth of the TTL in force, if that
 * is shorter): part of the contract (docs/session-contract.md, "last_seen_at"). touch-session.lua.
 */
export const TOUCH_WRITE_INTERVAL_MS = 1000

const FILES = {
  createSession: 'create-session',
  touchSession: 'touch-session',
  peekSession: 'peek-session',
  upgradeSession: 'upgrade-session',
  revokeSession: 'revoke-session',
  revokeAllSessions: 'revoke-all-sessions',
  endRevokedSessions: 'end-revoked-sessions',
  sessionPage: 'session-page',
  listSessions: 'list-sessions',
  createdPage: 'created-page',
  createdGaps: 'created-gaps',
  migrateSession: 'migrate-session',
  whyEnded: 'why-ended',
} as const
type ScriptName = keyof typeof FILES

/**
 * How many KEYS each script takes. The others declare as many as the call needs, and are called
 * with that number first: redis/client.ts keeps exactly those out of auto-pipelining (a Cluster
 * would group them by that number instead of a key), which this type holds it to.
 */
const NUMBER_OF_KEYS: Record<Exclude<ScriptName, typeof VARIABLE_KEY_SCRIPTS[number]>, number> = {
  touchSession: 6,
  peekSession: 2,
  upgradeSession: 1,
  revokeSession: 5,
  revokeAllSessions: 5,
  sessionPage: 2,
  createdPage: 2,
  createdGaps: 2,
  migrateSession: 8,
  whyEnded: 4,
}

/**
 * A script's source with each `--- @include "<name>"` line replaced by includes/<name>.lua: the
 * pieces several scripts share (Redis' clock, the upkeep of a user's index, the rule for whether
 * a session is live) are written once, as BullMQ's scripts do.
 */
function expand (file: string): string {
  const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8')
  return read(`./${file}.lua`).replace(/^--- @include "([a-z-]+)"$/gm, (_line, include: string) => read(`./includes/${include}.lua`).trimEnd())
}

/** Every script, read and expanded once. */
const SOURCES = Object.fromEntries(Object.entries(FILES).map(([name, file]) => [name, expand(file)])) as Record<ScriptName, string>

/** The clients the commands are defined on: each once, however many stores and migrations use it. */
const defined = new WeakSet<RedisClient>()

/** The defined commands, as ioredis adds them to the client (EVALSHA, falling back to EVAL after a Redis restart). */
type Commands = Record<ScriptName, (...keysAndArgs: (string | number)[]) => Promise<unknown>>

/**
 * How many times a login over the cap is tried before giving up (see createSession): each
 * attempt after the second needs the sessions to evict to have changed within its round trip,
 * which a storm of logins of one account could do: 503.
 */
const MEMBER_ATTEMPTS = 10

export interface CreateSessionInput extends NewSessionInput {
  id: string
  /** The idle window of the session's client (or the global TTL in force). */
  ttlMs: number
  /** The absolute lifetime. */
  maxAgeMs: number
  /** 0: no limit. */
  maxPerUser: number
  /** How long the owner key outlives the session's absolute end. */
  ownerGraceMs: number
}

/** A token's session, as a script that checks it for that token needs it. */
export interface TokenReach {
  userId: string
  id: string
  /** The token's audience; null or '' for an unbound token. */
  audience?: string | null
  /** Unix ms: the token reaches only sessions created before it (a former HS256 secret's). */
  createdBefore?: number
}

export type CreateSessionResult =
  | { status: 'ok'; createdAt: number; maxExpiresAt: number; evicted: string[] }
  /** A session with this id exists: pick another. */
  | { status: 'taken' }
  /** The user's sessions were revoked after `generation` was read: check again. */
  | { status: 'stale' }

export type TouchResult =
  | { status: 'ok'; session: LiveSession }
  /** This call ended the session. */
  | { status: 'ended'; reason: 'idle' | 'max-age'; client: string }
  | { status: 'revoked' | 'gone' }

/** An entry of a user's index: a session id and its score (its expiry, Unix ms, as Redis wrote it). */
export interface IndexEntry {
  id: string
  score: string
}

/** created-page.lua's answer: a page of the device list. */
export interface CreatedPage {
  /** How many more entries the index holds than the creation index: above 0, some need adding (createdGaps). */
  missing: number
  /** Whether a live session may follow the page. */
  more: boolean
  /** The last entry the page went past (shown, left out or dead), the next page's cursor; null when it went past none. */
  resume: IndexEntry | null
  /** The page, newest first (score: created_at). */
  entries: IndexEntry[]
}

export interface SessionScripts {
  /** create-session.lua, declaring the user's other sessions when the cap needs them ('members'). */
  createSession(input: CreateSessionInput): Promise<CreateSessionResult>
  /** touch-session.lua: checks the session and slides its TTL (by the policy of the token's client). */
  touchSession(input: TokenReach & { policy: SessionPolicy }): Promise<TouchResult>
  /** peek-session.lua: the live session, not extended; null when it is not live. */
  peekSession(input: TokenReach & { policy: SessionPolicy }): Promise<SessionStatus | null>
  /** why-ended.lua: why the token's session is not live: [reason, stored cause or '']. */
  whyEnded(input: TokenReach & { policy: SessionPolicy; createdAt: number; expiresAt: number }): Promise<[string, string]>
  /** upgrade-session.lua: true when it completed the session. */
  upgradeSession(input: { userId: string; id: string; user: SessionUser }): Promise<boolean>
  /** revoke-session.lua: the session's client label ('' if none) when it ended the session, null if there was none; `ending` is what its app is told (endings.ts). */
  revokeSession(input: { userId: string; id: string; ending: string }): Promise<string | null>
  /** revoke-all-sessions.lua: raises the user's cutoff; returns the new generation. `cause`: what the apps are told. */
  revokeAllSessions(input: { userId: string; keep?: string; policy: SessionPolicy; generationTtlMs: number; maxAgeMs: number; cause: string }): Promise<string>
  /** end-revoked-sessions.lua: deletes those of `ids` a revoke-all ended; returns them, with their client labels. */
  endRevokedSessions(input: { userId: string; ids: string[] }): Promise<Array<{ id: string; client: string }>>
  /** session-page.lua: at most `limit` entries of the index, most recently used first, after `after`. */
  sessionPage(input: { userId: string; limit: number; after?: IndexEntry }): Promise<IndexEntry[]>
  /** created-page.lua: at most `limit` entries of the creation index, newest first, after `after`, without `skip`. */
  createdPage(input: { userId: string; limit: number; after?: IndexEntry; skip?: string }): Promise<CreatedPage>
  /** created-gaps.lua: ids the index holds from rank `start` (most recently used first) that the creation index lacks; `next` is -1 at the end. */
  createdGaps(input: { userId: string; start: number; read: number; most: number }): Promise<{ next: number; ids: string[] }>
  /** list-sessions.lua: the live sessions of `ids`, in their order (adding to the creation index those it lacks). */
  listSessions(input: { userId: string; policy: SessionPolicy; ids: string[] }): Promise<SessionInfo[]>
  /** migrate-session.lua: moves a layout-2 session to its layout-3 keys (single Redis or Sentinel only). */
  migrateSession(input: { userId: string; id: string }): Promise<'moved' | 'dropped' | 'gone'>
}

/**
 * create-session.lua's one argument. The strings are sent as the bytes ioredis would have sent
 * for them: a lone surrogate becomes U+FFFD (as JSON, it would be an escape cjson refuses).
 */
function packLogin (input: CreateSessionInput): string {
  const login = {
    id: input.id,
    user_id: input.userId,
    role: input.role,
    email: input.email,
    user_created_at: String(input.userCreatedAt),
    email_verified_at: (input.emailVerifiedAt ?? 0) > 0 ? String(input.emailVerifiedAt) : '',
    client: input.device.client,
    aud: input.audience ?? '',
    user_agent: input.device.userAgent,
    ip: input.device.ip,
    v: SESSION_LAYOUT_VERSION,
    generation: input.generation,
    ttl_ms: input.ttlMs,
    max_age_ms: input.maxAgeMs,
    max_per_user: input.maxPerUser,
    owner_grace_ms: input.ownerGraceMs,
  }
  return JSON.stringify(login, (_key, value: unknown) => typeof value === 'string' ? Buffer.from(value, 'utf8').toString('utf8') : value)
}

/** The session scripts on `redis` (one server, Sentinel or Cluster), for the keys under `keyPrefix`. */
export function sessionScripts (redis: RedisClient, keyPrefix: string): SessionScripts {
  if (!defined.has(redis)) {
    for (const name of Object.keys(FILES) as ScriptName[]) {
      redis.defineCommand(name, { lua: SOURCES[name], numberOfKeys: (NUMBER_OF_KEYS as Partial<Record<ScriptName, number>>)[name] })
    }
    defined.add(redis)
  }
  const run = redis as unknown as Commands
  const keys = sessionKeys(keyPrefix)
  const legacy = legacyKeys(keyPrefix)

  return {
    async createSession (input) {
      const { userId, id } = input
      const login = packLogin(input)
      // Evicting needs the keys of the user's other sessions (a Cluster script must declare every
      // key it touches), which only the index names: the script answers 'members', with the index
      // as it is now, when a session it must evict was not declared, and is called again with
      // those. Concurrent logins add the newest sessions and eviction takes the oldest, so a second
      // call nearly always does; ids are never reused, so the ids seen are kept across attempts.
      const known = new Set<string>()
      for (let attempt = 1; ; attempt++) {
        const ids = [...known]
        const [status, ...rest] = await run.createSession(
          6 + 3 * ids.length,
          keys.session(userId, id), keys.index(userId), keys.generation(userId), keys.owner(userId, id), keys.cutoff(userId), keys.created(userId),
          ...ids.flatMap((other) => [keys.session(userId, other), keys.owner(userId, other), keys.ended(userId, other)]),
          login, ...ids
        ) as string[]
        if (status === 'ok') {
          const [createdAt, maxExpiresAt, ...evicted] = rest
          return { status, createdAt: Number(createdAt), maxExpiresAt: Number(maxExpiresAt), evicted }
        }
        if (status === 'taken' || status === 'stale') return { status }
        // 'members': the user's least recently used sessions, to declare.
        if (attempt === MEMBER_ATTEMPTS) throw new Error(`the sessions of user ${userId} changed during each of ${MEMBER_ATTEMPTS} attempts`)
        for (const member of rest) known.add(member)
        if (attempt > 1) await sleep(Math.random() * 5 * attempt)
      }
    },

    async touchSession ({ userId, id, policy, createdBefore, audience }) {
      const [status, detail = '', email = '', userCreatedAt = '', emailVerifiedAt = ''] = await run.touchSession(
        keys.session(userId, id), keys.index(userId), keys.owner(userId, id), keys.cutoff(userId), keys.emailVerified(userId), keys.created(userId),
        id, userId, JSON.stringify(policy), TOUCH_WRITE_INTERVAL_MS, createdBefore ?? '', audience ?? ''
      ) as string[]
      if (status === 'ok') return { status, session: { role: detail, email, userCreatedAt: Number(userCreatedAt), emailVerifiedAt: Number(emailVerifiedAt) } }
      // The third field is the session's client label (for the `expired` event) when it ended.
      if (status === 'ended') return { status, reason: detail as 'idle' | 'max-age', client: email }
      return { status: status as 'revoked' | 'gone' }
    },

    async peekSession ({ userId, id, policy, createdBefore, audience }) {
      const found = await run.peekSession(keys.session(userId, id), keys.cutoff(userId), userId, JSON.stringify(policy), createdBefore ?? '', audience ?? '') as string[] | null
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
    },

    async upgradeSession ({ userId, id, user }) {
      return await run.upgradeSession(keys.session(userId, id), userId, user.role, user.email, user.userCreatedAt, SESSION_LAYOUT_VERSION) === 1
    },

    async whyEnded ({ userId, id, policy, audience, createdAt, expiresAt }) {
      const [reason = 'idle', cause = ''] = await run.whyEnded(
        keys.session(userId, id), keys.cutoff(userId), keys.ended(userId, id), keys.revoked(userId),
        userId, JSON.stringify(policy), audience ?? '', createdAt, expiresAt, id
      ) as string[]
      return [reason, cause]
    },

    async revokeSession ({ userId, id, ending }) {
      const ended = await run.revokeSession(keys.session(userId, id), keys.index(userId), keys.owner(userId, id), keys.ended(userId, id), keys.created(userId), id, userId, ending) as 0 | [number, string]
      return ended === 0 || ended[0] !== 1 ? null : ended[1]
    },

    async revokeAllSessions ({ userId, keep = '', policy, generationTtlMs, maxAgeMs, cause }) {
      // The kept session's hash is declared even when there is none to keep: it is then never read.
      return await run.revokeAllSessions(
        keys.cutoff(userId), keys.generation(userId), keys.index(userId), keys.session(userId, keep), keys.revoked(userId),
        userId, keep, JSON.stringify(policy), generationTtlMs, maxAgeMs, cause
      ) as string
    },

    async endRevokedSessions ({ userId, ids }) {
      const flat = await run.endRevokedSessions(
        3 + 2 * ids.length,
        keys.index(userId), keys.cutoff(userId), keys.created(userId), ...ids.flatMap((id) => [keys.session(userId, id), keys.owner(userId, id)]),
        userId, ...ids
      ) as string[]
      const ended: Array<{ id: string; client: string }> = []
      for (let i = 0; i + 1 < flat.length; i += 2) ended.push({ id: flat[i]!, client: flat[i + 1]! })
      return ended
    },

    async sessionPage ({ userId, limit, after }) {
      const flat = await run.sessionPage(keys.index(userId), keys.created(userId), limit, after?.score ?? '', after?.id ?? '') as string[]
      const entries: IndexEntry[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ id: flat[i]!, score: flat[i + 1]! })
      return entries
    },

    async createdPage ({ userId, limit, after, skip = '' }) {
      const [missing, more, resumeScore, resumeId, ...flat] = await run.createdPage(keys.created(userId), keys.index(userId), limit, after?.score ?? '', after?.id ?? '', skip) as [number, number, string, string, ...string[]]
      const entries: IndexEntry[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ id: flat[i]!, score: flat[i + 1]! })
      return { missing, more: more === 1, resume: resumeId === '' ? null : { id: resumeId, score: resumeScore }, entries }
    },

    async createdGaps ({ userId, start, read, most }) {
      const [next, ...ids] = await run.createdGaps(keys.index(userId), keys.created(userId), start, read, most) as [number, ...string[]]
      return { next, ids }
    },

    async listSessions ({ userId, policy, ids }) {
      if (ids.length === 0) return []
      const flat = await run.listSessions(
        3 + ids.length,
        keys.index(userId), keys.cutoff(userId), keys.created(userId), ...ids.map((id) => keys.session(userId, id)),
        userId, JSON.stringify(policy), ...ids
      ) as string[]
      const sessions: SessionInfo[] = []
      for (let i = 0; i + 9 <= flat.length; i += 9) {
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
          audience: field(8),
        })
      }
      return sessions
    },

    async migrateSession ({ userId, id }) {
      return await run.migrateSession(
        legacy.session(id), legacy.owner(id), legacy.index(userId),
        keys.session(userId, id), keys.owner(userId, id), keys.index(userId), keys.generation(userId), keys.cutoff(userId),
        id, userId, SESSION_LAYOUT_VERSION
      ) as 'moved' | 'dropped' | 'gone'
    },
  }
}
