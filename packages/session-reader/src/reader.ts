import { createHash } from 'node:crypto'
import { fetchJson } from './fetch-json.js'
import { MAX_TOKEN_LENGTH } from './credentials.js'
import { ReaderUnavailableError } from './errors.js'
import { createKeySet, type VerificationKeys } from './keys.js'
import { audienceMatches, DEFAULT_ISSUER, type SessionClaims, sessionClaimsOf } from './token.js'

/**
 * The Redis client to read with: an ioredis `Redis` (single or Sentinel) or `Cluster`, or anything
 * with the same `call`. Build it without ioredis' `keyPrefix` option: the key names are built here.
 */
export interface ReaderRedis {
  call(command: string, ...args: (string | number)[]): Promise<unknown>
  options?: { keyPrefix?: string }
  /** True on an ioredis Cluster: `<prefix>config` lives in another slot than the sessions. */
  isCluster?: boolean
}

export interface SessionReaderOptions {
  redis: ReaderRedis
  /** REDIS_KEY_PREFIX of the deployment (default `gatehouse:`). */
  keyPrefix?: string
  /** JWT_ISSUER of the deployment (default `gatehouse`). */
  issuer?: string
  /**
   * JWT_ACCEPT_UNTYPED of the deployment (default true): tokens from before tokens were typed pass
   * while the window Gatehouse recorded in `<prefix>config` (untyped_tokens_until) is open, and
   * never after it. False refuses them at once.
   */
  acceptUntyped?: boolean
  keys: VerificationKeys
  /** SESSION_TTL_SECONDS of the deployment: the TTL in force when `<prefix>config` sets none (default 1200). */
  defaultTtlSeconds?: number
  /** SESSION_MAX_AGE_SECONDS of the deployment: a TTL in `<prefix>config` above it is ignored, as Gatehouse ignores it (default 30 days). */
  maxAgeSeconds?: number
  /** A Redis read slower than this throws ReaderUnavailableError (default 1000 ms). */
  timeoutMs?: number
  /** Gatehouse's POST /introspect and a credential from its INTROSPECTION_TOKENS: needed only for `extend` and `extendIfDue`. */
  introspection?: { url: string, credential: string, timeoutMs?: number }
}

/** Why a token does not stand for a live session. */
export type NotLiveReason =
  /** Not a genuine token of this deployment (forged, malformed, wrong algorithm, key, issuer or type). */
  | 'invalid_token'
  /** The token is bound to a client (`aud`) and the request named another one, or none. */
  | 'wrong_audience'
  /** No such session: logged out, revoked, expired, or lost with Redis. */
  | 'no_session'
  /** A revoke-all (logout everywhere, password or role change, an admin) ended it. */
  | 'revoked'
  /** Unused for longer than the TTL in force. */
  | 'idle'
  /** Past its absolute end (the token's `exp`). */
  | 'max_age'
  /** The session hash has a layout version this library does not know: upgrade it. */
  | 'unknown_version'

export interface LiveSession {
  userId: string
  sessionId: string
  /** `user` or `admin`, current by construction (a role change ends the user's sessions); null on a layout-1 hash. */
  role: string | null
  /** The hash's layout version `v`. */
  layout: number
  /** Unix ms, from the session hash (Redis clock). */
  createdAt: number
  lastSeenAt: number
  /** When the session ends if it is not used again. */
  expiresAt: number
  /** The idle timeout in force (the TTL ops set, else SESSION_TTL_SECONDS), ms, as read with the session. */
  idleTimeoutMs: number
  /** Redis' clock when the session was read, Unix ms: the time every other field is relative to. */
  readAt: number
  /** The absolute end. */
  maxExpiresAt: number
  /** The client label, User-Agent and address of the login. Untrusted text: escape it before display. */
  client: string
  userAgent: string
  ip: string
  /** Absent on sessions older than the performance release until their next request. */
  email: string | null
  userCreatedAt: number | null
  /** The client the token is bound to (`aud`), if any. */
  audience: string | null
  /** The verified claims. */
  claims: SessionClaims
}

export type ReadResult = { live: true, session: LiveSession } | { live: false, reason: NotLiveReason }

/** The token step alone: the claims of a genuine token for this request, or why not. */
export type TokenResult = { ok: true, claims: SessionClaims } | { ok: false, reason: 'invalid_token' | 'wrong_audience' | 'max_age' }

export interface ReadOptions {
  /** The audience the request names (the `JWT-Aud` header): needed when the token is bound to one. */
  audience?: string | null
}

export interface SessionReader {
  /** Whether the token stands for a live session, by the contract's rules: `verify`, then `session`. Throws ReaderUnavailableError when Redis (or the JWKS) does not answer. */
  read(token: string, options?: ReadOptions): Promise<ReadResult>
  /** The token step: signature, key, `exp`, type, issuer, claim shapes, audience. Needs Redis never; the JWKS perhaps. */
  verify(token: string, options?: ReadOptions): Promise<TokenResult>
  /** The Redis step, for claims `verify` accepted. */
  session(claims: SessionClaims): Promise<ReadResult>
  /** Slides the session through Gatehouse's POST /introspect with extend (the only write, and Gatehouse makes it). True if it is live. */
  extend(token: string): Promise<boolean>
  /**
   * Slides the session only when it is due: when a tenth of the idle timeout has passed since its
   * last use (the rule Gatehouse's own writes follow), so steady traffic costs a few calls a minute,
   * not one per request. Concurrent calls for one session share one. True if the session is live
   * (or no slide was due, or one failed less than 5 s ago); false if Gatehouse says it is not.
   * Throws ReaderUnavailableError when Gatehouse cannot be reached.
   */
  extendIfDue(token: string, session: LiveSession): Promise<boolean>
}

/** Layout versions read: 3, and 1 (a session moved from an old release, completed at its next request). */
const LAYOUT_VERSIONS = new Set(['1', '3'])

/**
 * One read-only round trip: the hash, its TTL, the user's cutoff, Redis' clock and, when it is in
 * the same slot (not a Cluster), the `<prefix>config` fields the rule reads: the TTL in force and
 * the untyped window, read with the session rather than cached, so a reader is never more lenient
 * than Gatehouse after ops shorten the TTL. Run with EVALSHA_RO/EVAL_RO, so Redis itself refuses it
 * any write; the session keys share the user's hash slot.
 */
const READ_SCRIPT = `local t = redis.call('TIME')
local c = {}
if #KEYS > 2 then c = redis.call('HMGET', KEYS[3], 'session_ttl_seconds', 'untyped_tokens_until') end
return {redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[2]) or '', t[1], t[2], redis.call('PTTL', KEYS[1]), c[1] or '', c[2] or ''}`
const READ_SCRIPT_SHA = createHash('sha1').update(READ_SCRIPT).digest('hex')

/** The `<prefix>config` fields the rule reads. */
const CONFIG_FIELDS = ['session_ttl_seconds', 'untyped_tokens_until'] as const

/** How many slides may be in flight at once; past it a due slide waits for a later request. */
const MAX_SLIDES_IN_FLIGHT = 10_000
/** After a slide failed (Gatehouse down or slow), none is tried for this long: an outage is not met with a call per request. */
const SLIDE_BACKOFF_MS = 5000

/** A field Gatehouse writes as a plain integer; null when absent or written any other way. */
const integer = (value: string | undefined): number | null => (value !== undefined && /^[0-9]{1,16}$/.test(value) ? Number(value) : null)

export function createSessionReader (options: SessionReaderOptions): SessionReader {
  const { redis, keys } = options
  const prefix = options.keyPrefix ?? 'gatehouse:'
  const rules = { issuer: options.issuer ?? DEFAULT_ISSUER, acceptUntyped: options.acceptUntyped ?? true }
  const defaultTtlSeconds = options.defaultTtlSeconds ?? 1200
  const maxAgeSeconds = options.maxAgeSeconds ?? 30 * 24 * 3600
  const timeoutMs = options.timeoutMs ?? 1000
  if (typeof redis?.call !== 'function') throw new TypeError('redis: an ioredis client (Redis or Cluster) is required')
  // ioredis would prepend its own prefix to every key named here: the names would be wrong.
  if (redis.options?.keyPrefix) throw new TypeError('redis: build the client without keyPrefix; pass the prefix as keyPrefix here')
  const keySet = createKeySet(keys)

  /** Redis work within timeoutMs; any failure is ReaderUnavailableError. */
  function bounded<T> (work: Promise<T>): Promise<T> {
    return withinTimeout(work, timeoutMs)
      .catch((err: unknown) => { throw err instanceof ReaderUnavailableError ? err : new ReaderUnavailableError('redis', err) })
  }

  // On a Cluster `<prefix>config` is in another slot: read beside the script, in the same turn.
  let cluster = redis.isCluster === true
  const configKey = `${prefix}config`

  async function evalRead (keys: string[]): Promise<unknown[]> {
    const args = [keys.length, ...keys]
    try {
      return await redis.call('EVALSHA_RO', READ_SCRIPT_SHA, ...args) as unknown[]
    } catch (err) {
      if (err instanceof Error && /unknown command/i.test(err.message)) {
        throw new Error('this Redis has no EVALSHA_RO: the session reader, like Gatehouse, needs Redis 7 or newer', { cause: err })
      }
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
      return await redis.call('EVAL_RO', READ_SCRIPT, ...args) as unknown[]
    }
  }

  /** [hash as a flat list, cutoff, seconds, µs, pttl, session_ttl_seconds, untyped_tokens_until], '' for what is absent. */
  async function readKeys (userId: string, jti: string): Promise<unknown[]> {
    const sessionKeys = [`${prefix}sess:{${userId}}:${jti}`, `${prefix}user:{${userId}}:cutoff`]
    if (!cluster) {
      try {
        return await evalRead([...sessionKeys, configKey])
      } catch (err) {
        if (!(err instanceof Error && /CROSSSLOT/.test(err.message))) throw err
        cluster = true // a Cluster client that does not say so: read config beside the script from now on
      }
    }
    const [reply, config] = await Promise.all([evalRead(sessionKeys), redis.call('HMGET', configKey, ...CONFIG_FIELDS) as Promise<(string | null)[]>])
    return [...reply.slice(0, 5), config[0] ?? '', config[1] ?? '']
  }

  /** The TTL in force, ms: `<prefix>config`'s session_ttl_seconds when it is a valid TTL, else the deployment's default. */
  const ttlInForceMs = (raw: string): number => {
    const seconds = /^[0-9]{1,9}$/.test(raw) ? Number(raw) : NaN
    return (seconds >= 1 && seconds <= maxAgeSeconds ? seconds : defaultTtlSeconds) * 1000
  }

  async function verify (token: string, readOptions: ReadOptions = {}): Promise<TokenResult> {
    if (typeof token !== 'string' || token === '' || token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'invalid_token' }
    const verified = await keySet.verify(token)
    if (!verified.ok) return { ok: false, reason: verified.reason === 'expired' ? 'max_age' : 'invalid_token' }
    const claims = sessionClaimsOf(verified.header, verified.payload, rules)
    if (!claims) return { ok: false, reason: 'invalid_token' }
    if (!audienceMatches(claims, readOptions.audience)) return { ok: false, reason: 'wrong_audience' }
    return { ok: true, claims }
  }

  async function read (token: string, readOptions: ReadOptions = {}): Promise<ReadResult> {
    const verified = await verify(token, readOptions)
    return verified.ok ? session(verified.claims) : notLive(verified.reason)
  }

  async function session (claims: SessionClaims): Promise<ReadResult> {
    const reply = await bounded(readKeys(claims.user_id, claims.jti))
    const [flat, cutoffText, seconds, micros, pttl, ttlText, untypedUntilText] = reply as [string[], string, string, string, number, string, string]
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
    // A token from before typing (no iss) passes only while the window Gatehouse recorded is open.
    if (claims.iss === undefined) {
      const until = integer(untypedUntilText)
      if (until === null || now >= until) return notLive('invalid_token')
    }
    const ttlMs = ttlInForceMs(ttlText)
    const hash: Record<string, string> = {}
    for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!
    const state = sessionState(hash, claims.user_id, cutoffOf(cutoffText), now, pttl, ttlMs)
    if (state !== null) return notLive(state)

    const lastSeenAt = integer(hash.last_seen_at)!
    return {
      live: true,
      session: {
        userId: claims.user_id,
        sessionId: claims.jti,
        role: hash.v === '1' ? null : hash.role ?? null,
        layout: Number(hash.v),
        createdAt: integer(hash.created_at) ?? claims.created_at,
        lastSeenAt,
        expiresAt: Math.min(now + pttl, lastSeenAt + ttlMs),
        idleTimeoutMs: ttlMs,
        readAt: now,
        maxExpiresAt: integer(hash.max_expires_at)!,
        client: hash.client ?? '',
        userAgent: hash.user_agent ?? '',
        ip: hash.ip ?? '',
        email: hash.email || null,
        userCreatedAt: integer(hash.user_created_at),
        audience: claims.aud ?? null,
        claims,
      },
    }
  }

  async function extend (token: string): Promise<boolean> {
    const target = options.introspection
    if (!target) throw new TypeError('extend needs the introspection option (Gatehouse POST /introspect and a credential)')
    let body: unknown
    try {
      body = (await fetchJson(target.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${target.credential}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ token, extend: true }),
      }, {
        timeoutMs: target.timeoutMs ?? 2000,
        maxBytes: 16 * 1024,
        // A 401 here is the service's credential, not the user: a fault, never "not live".
        accept: (status) => status === 200,
      })).body
    } catch (err) {
      throw new ReaderUnavailableError('gatehouse', err)
    }
    return typeof body === 'object' && body !== null && (body as { active?: unknown }).active === true
  }

  const slides = new Map<string, Promise<boolean>>()
  let failedAt = -Infinity
  async function extendIfDue (token: string, live: LiveSession): Promise<boolean> {
    if (live.readAt - live.lastSeenAt < live.idleTimeoutMs / 10) return true
    const pending = slides.get(live.sessionId)
    if (pending) return pending
    // Bounded: past the cap, or shortly after a failure, a later request slides it.
    if (slides.size >= MAX_SLIDES_IN_FLIGHT || Date.now() - failedAt < SLIDE_BACKOFF_MS) return true
    const slide = extend(token)
      .catch((err: unknown) => {
        failedAt = Date.now()
        throw err
      })
      .finally(() => slides.delete(live.sessionId))
    slides.set(live.sessionId, slide)
    return slide
  }

  return { read, verify, session, extend, extendIfDue }
}

const notLive = (reason: NotLiveReason): ReadResult => ({ live: false, reason })

/** `work`, or a rejection once `ms` have passed without an answer. */
function withinTimeout<T> (work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/** The user's cutoff: 0 when there is none; one that is not an integer (written by hand) ends every session. */
const cutoffOf = (text: string): number => (text === '' ? 0 : integer(text) ?? Infinity)

/**
 * The contract's rule (docs/session-contract.md, "Reading a session from another service"),
 * in the order Gatehouse applies it (src/sessions/scripts/includes/session-state.lua): null
 * when the session is live, else why not.
 */
export function sessionState (hash: Record<string, string>, userId: string, cutoff: number, now: number, pttl: number, ttlMs: number): NotLiveReason | null {
  if (Object.keys(hash).length === 0) return 'no_session'
  if (!LAYOUT_VERSIONS.has(hash.v ?? '')) return 'unknown_version'
  const maxExpiresAt = integer(hash.max_expires_at)
  // A key without a TTL was recreated by a stray write after it ended: not a session.
  if (hash.user_id !== userId || maxExpiresAt === null || pttl <= 0) return 'no_session'
  // A hash from before the field existed belongs to the generation of its creation (ms → µs).
  const generation = integer(hash.generation) ?? (integer(hash.created_at) ?? 0) * 1000
  if (cutoff > 0 && generation < cutoff) return 'revoked'
  if (maxExpiresAt <= now) return 'max_age'
  // Gatehouse always writes last_seen_at; one that is missing or not an integer is taken as idle (fail closed).
  const lastSeenAt = integer(hash.last_seen_at)
  if (lastSeenAt === null || now - lastSeenAt > ttlMs) return 'idle'
  return null
}
