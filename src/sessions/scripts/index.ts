import { readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { RedisClient } from '../../redis/client.js'
import { legacyKeys, SESSION_LAYOUT_VERSION, sessionKeys } from '../keys.js'
import type { SessionPolicy } from '../session-ttl.js'
import type { LiveSession, NewSessionInput, SessionInfo, SessionStatus, SessionUser } from '../types.js'

// The session scripts: every `<name>-<keys>.lua` file here (copied beside the build) is an ioredis
// command named `<name>` in camelCase, taking `<keys>` KEYS; `<name>-n.lua` takes as many as its
// call needs, passed first (BullMQ names its scripts the same way). Adding a script is its file and
// its typed call below. Each file's header says its KEYS, ARGV, reply and the race it closes; the
// calls below build the KEYS from the user's id and the session ids (keys.ts: all in the user's
// hash slot, so every script is Cluster-safe), encode the arguments and decode the reply: fields
// the script names (fieldsOf), or, for the touch on every request, the values of the fields its
// call named (TOUCH_USER_FIELDS).

/**
 * A session's last use is written at most this often (or every tenth of the TTL in force, if that
 * is shorter): part of the contract (docs/session-contract.md, "last_seen_at"). touch-session-6.lua.
 */
export const TOUCH_WRITE_INTERVAL_MS = 1000

interface Script {
  lua: string
  /** undefined: the caller passes the number first (`-n.lua`). */
  numberOfKeys: number | undefined
}

/**
 * A script's source with each `--- @include "<name>"` line replaced by includes/<name>.lua: the
 * pieces several scripts share (Redis' clock, the upkeep of a user's index, the rule for whether
 * a session is live) are written once, as BullMQ's scripts do.
 */
function expand (file: string): string {
  const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8')
  return read(`./${file}`).replace(/^--- @include "([a-z-]+)"$/gm, (_line, include: string) => read(`./includes/${include}.lua`).trimEnd())
}

/** Every script of this folder, by command name, read and expanded once. */
const SCRIPTS = new Map<string, Script>(
  readdirSync(new URL('./', import.meta.url)).flatMap((file): Array<[string, Script]> => {
    const named = /^([a-z-]+)-(\d+|n)\.lua$/.exec(file)
    if (!named) return []
    const [, name, keys] = named as unknown as [string, string, string]
    const command = name.replace(/-([a-z])/g, (_dash, letter: string) => letter.toUpperCase())
    return [[command, { lua: expand(file), numberOfKeys: keys === 'n' ? undefined : Number(keys) }]]
  })
)

/** The scripts called with their number of keys first (`-n.lua`). */
export const VARIABLE_KEY_SCRIPTS = [...SCRIPTS].filter(([, { numberOfKeys }]) => numberOfKeys === undefined).map(([name]) => name)

/** The clients the commands are defined on: each once, however many stores and migrations use it. */
const defined = new WeakSet<RedisClient>()

/**
 * Defines every script on `redis` once. A script called with its number of keys first is kept out
 * of auto-pipelining: a Cluster would group it by that number instead of a key (redis/ioredis#2109)
 * and the batch would mix slots. Those are logins, revoke-alls and listings, never the hot path.
 * ioredis reads the list at each call, so the scripts can add to it after the client is made.
 */
function define (redis: RedisClient): void {
  if (defined.has(redis)) return
  for (const [name, { lua, numberOfKeys }] of SCRIPTS) redis.defineCommand(name, { lua, numberOfKeys })
  // A new array: the one there may be ioredis' default, shared by every client of the process.
  redis.options.autoPipeliningIgnoredCommands = [...new Set([...(redis.options.autoPipeliningIgnoredCommands ?? []), ...VARIABLE_KEY_SCRIPTS])]
  defined.add(redis)
}

/** Calls a script's command on `redis` (defined by `define`): EVALSHA, falling back to EVAL after a Redis restart. */
type Run = (name: string, ...keysAndArgs: (string | number)[]) => Promise<unknown>

function commands (redis: RedisClient): Run {
  const byName = new Map([...SCRIPTS.keys()].map((name) => {
    const command = (redis as unknown as Record<string, (...keysAndArgs: (string | number)[]) => Promise<unknown>>)[name]!
    return [name, command.bind(redis)]
  }))
  return (name, ...keysAndArgs) => {
    const command = byName.get(name)
    return command ? command(...keysAndArgs) : Promise.reject(new Error(`no session script ${name} in src/sessions/scripts/`))
  }
}

/**
 * The session's user fields touch-session-6.lua answers with, by name, in this order: on every
 * request, so its reply carries the values alone, not their names.
 */
const TOUCH_USER_FIELDS = ['role', 'email', 'user_created_at', 'email_verified_at'] as const
/** A string for each name of a list. */
type StringsOf<Names extends readonly string[]> = { -readonly [K in keyof Names]: string }
/** A string for each of TOUCH_USER_FIELDS. */
type UserFields = StringsOf<typeof TOUCH_USER_FIELDS>
/** touch-session-6.lua's answer for a live session: 'ok', then TOUCH_USER_FIELDS' values. */
type TouchedUser = [status: 'ok', ...fields: UserFields]

/** A script's reply of named fields (name, value, name, value...: session-state.lua, `named`). */
function fieldsOf (flat: string[]): Record<string, string> {
  const fields: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!
  return fields
}

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

/** created-page-2.lua's answer: a page of the device list. */
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
  /** create-session-n.lua, declaring the user's other sessions when the cap needs them ('members'). */
  createSession(input: CreateSessionInput): Promise<CreateSessionResult>
  /** touch-session-6.lua: checks the session and slides its TTL (by the policy of the token's client). */
  touchSession(input: TokenReach & { policy: SessionPolicy }): Promise<TouchResult>
  /** peek-session-2.lua: the live session, not extended; null when it is not live. */
  peekSession(input: TokenReach & { policy: SessionPolicy }): Promise<SessionStatus | null>
  /** why-ended-4.lua: why the token's session is not live: [reason, stored cause or '']. */
  whyEnded(input: TokenReach & { policy: SessionPolicy; createdAt: number; expiresAt: number }): Promise<[string, string]>
  /** upgrade-session-1.lua: true when it completed the session. */
  upgradeSession(input: { userId: string; id: string; user: SessionUser }): Promise<boolean>
  /** revoke-session-5.lua: the session's client label ('' if none) when it ended the session, null if there was none; `ending` is what its app is told (endings.ts). */
  revokeSession(input: { userId: string; id: string; ending: string }): Promise<string | null>
  /** revoke-all-sessions-5.lua: raises the user's cutoff; returns the new generation. `cause`: what the apps are told. */
  revokeAllSessions(input: { userId: string; keep?: string; policy: SessionPolicy; generationTtlMs: number; maxAgeMs: number; cause: string }): Promise<string>
  /** end-revoked-sessions-n.lua: deletes those of `ids` a revoke-all ended; returns them, with their client labels. */
  endRevokedSessions(input: { userId: string; ids: string[] }): Promise<Array<{ id: string; client: string }>>
  /** session-page-2.lua: at most `limit` entries of the index, most recently used first, after `after`. */
  sessionPage(input: { userId: string; limit: number; after?: IndexEntry }): Promise<IndexEntry[]>
  /** created-page-2.lua: at most `limit` entries of the creation index, newest first, after `after`, without `skip`. */
  createdPage(input: { userId: string; limit: number; after?: IndexEntry; skip?: string }): Promise<CreatedPage>
  /** created-gaps-2.lua: ids the index holds from rank `start` (most recently used first) that the creation index lacks; `next` is -1 at the end. */
  createdGaps(input: { userId: string; start: number; read: number; most: number }): Promise<{ next: number; ids: string[] }>
  /** list-sessions-n.lua: the live sessions of `ids`, in their order (adding to the creation index those it lacks). */
  listSessions(input: { userId: string; policy: SessionPolicy; ids: string[] }): Promise<SessionInfo[]>
  /** migrate-session-8.lua: moves a layout-2 session to its layout-3 keys (single Redis or Sentinel only). */
  migrateSession(input: { userId: string; id: string }): Promise<'moved' | 'dropped' | 'gone'>
}

/**
 * create-session-n.lua's one argument. The strings are sent as the bytes ioredis would have sent
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
  define(redis)
  const run = commands(redis)
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
        const [status, ...rest] = await run(
          'createSession',
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
      const reply = await run(
        'touchSession',
        keys.session(userId, id), keys.index(userId), keys.owner(userId, id), keys.cutoff(userId), keys.emailVerified(userId), keys.created(userId),
        id, userId, JSON.stringify(policy), TOUCH_WRITE_INTERVAL_MS, createdBefore ?? '', audience ?? '', ...TOUCH_USER_FIELDS
      ) as [string, ...Array<string | string[]>]
      const [status] = reply
      if (status === 'ok') {
        // The values of TOUCH_USER_FIELDS, in its order.
        const [, role, email, userCreatedAt, emailVerifiedAt] = reply as TouchedUser
        return { status, session: { role, email, userCreatedAt: Number(userCreatedAt), emailVerifiedAt: Number(emailVerifiedAt) } }
      }
      const fields = fieldsOf((reply[1] ?? []) as string[])
      if (status === 'ended') return { status, reason: fields.reason as 'idle' | 'max-age', client: fields.client ?? '' }
      return { status: status as 'revoked' | 'gone' }
    },

    async peekSession ({ userId, id, policy, createdBefore, audience }) {
      const found = await run('peekSession', keys.session(userId, id), keys.cutoff(userId), userId, JSON.stringify(policy), createdBefore ?? '', audience ?? '') as string[] | null
      if (!found) return null
      const session = fieldsOf(found)
      return {
        role: session.role ?? '',
        email: session.email ?? '',
        userCreatedAt: Number(session.user_created_at ?? ''),
        createdAt: Number(session.created_at),
        lastSeenAt: Number(session.last_seen_at),
        expiresAt: Number(session.expires_at),
        maxExpiresAt: Number(session.max_expires_at),
      }
    },

    async upgradeSession ({ userId, id, user }) {
      return await run('upgradeSession', keys.session(userId, id), userId, user.role, user.email, user.userCreatedAt, SESSION_LAYOUT_VERSION) === 1
    },

    async whyEnded ({ userId, id, policy, audience, createdAt, expiresAt }) {
      const [reason = 'idle', cause = ''] = await run(
        'whyEnded',
        keys.session(userId, id), keys.cutoff(userId), keys.ended(userId, id), keys.revoked(userId),
        userId, JSON.stringify(policy), audience ?? '', createdAt, expiresAt, id
      ) as string[]
      return [reason, cause]
    },

    async revokeSession ({ userId, id, ending }) {
      const ended = await run('revokeSession', keys.session(userId, id), keys.index(userId), keys.owner(userId, id), keys.ended(userId, id), keys.created(userId), id, userId, ending) as 0 | [number, string]
      return ended === 0 || ended[0] !== 1 ? null : ended[1]
    },

    async revokeAllSessions ({ userId, keep = '', policy, generationTtlMs, maxAgeMs, cause }) {
      // The kept session's hash is declared even when there is none to keep: it is then never read.
      return await run(
        'revokeAllSessions',
        keys.cutoff(userId), keys.generation(userId), keys.index(userId), keys.session(userId, keep), keys.revoked(userId),
        userId, keep, JSON.stringify(policy), generationTtlMs, maxAgeMs, cause
      ) as string
    },

    async endRevokedSessions ({ userId, ids }) {
      const flat = await run(
        'endRevokedSessions',
        3 + 2 * ids.length,
        keys.index(userId), keys.cutoff(userId), keys.created(userId), ...ids.flatMap((id) => [keys.session(userId, id), keys.owner(userId, id)]),
        userId, ...ids
      ) as string[]
      const ended: Array<{ id: string; client: string }> = []
      for (let i = 0; i + 1 < flat.length; i += 2) ended.push({ id: flat[i]!, client: flat[i + 1]! })
      return ended
    },

    async sessionPage ({ userId, limit, after }) {
      const flat = await run('sessionPage', keys.index(userId), keys.created(userId), limit, after?.score ?? '', after?.id ?? '') as string[]
      const entries: IndexEntry[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ id: flat[i]!, score: flat[i + 1]! })
      return entries
    },

    async createdPage ({ userId, limit, after, skip = '' }) {
      const [missing, more, resumeScore, resumeId, ...flat] = await run('createdPage', keys.created(userId), keys.index(userId), limit, after?.score ?? '', after?.id ?? '', skip) as [number, number, string, string, ...string[]]
      const entries: IndexEntry[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ id: flat[i]!, score: flat[i + 1]! })
      return { missing, more: more === 1, resume: resumeId === '' ? null : { id: resumeId, score: resumeScore }, entries }
    },

    async createdGaps ({ userId, start, read, most }) {
      const [next, ...ids] = await run('createdGaps', keys.index(userId), keys.created(userId), start, read, most) as [number, ...string[]]
      return { next, ids }
    },

    async listSessions ({ userId, policy, ids }) {
      if (ids.length === 0) return []
      const listed = await run(
        'listSessions',
        3 + ids.length,
        keys.index(userId), keys.cutoff(userId), keys.created(userId), ...ids.map((id) => keys.session(userId, id)),
        userId, JSON.stringify(policy), ...ids
      ) as string[][]
      const sessions: SessionInfo[] = []
      for (const named of listed) {
        const session = fieldsOf(named)
        sessions.push({
          id: session.id ?? '',
          client: session.client ?? '',
          userAgent: session.user_agent ?? '',
          ip: session.ip ?? '',
          createdAt: Number(session.created_at ?? ''),
          lastSeenAt: Number(session.last_seen_at ?? ''),
          expiresAt: Number(session.expires_at ?? ''),
          maxExpiresAt: Number(session.max_expires_at ?? ''),
          audience: session.aud ?? '',
        })
      }
      return sessions
    },

    async migrateSession ({ userId, id }) {
      return await run(
        'migrateSession',
        legacy.session(id), legacy.owner(id), legacy.index(userId),
        keys.session(userId, id), keys.owner(userId, id), keys.index(userId), keys.generation(userId), keys.cutoff(userId),
        id, userId, SESSION_LAYOUT_VERSION
      ) as 'moved' | 'dropped' | 'gone'
    },
  }
}
