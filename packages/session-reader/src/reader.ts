import { createHash } from 'node:crypto'
import { fetchJson } from './fetch-json.js'
import { MAX_TOKEN_LENGTH } from './credentials.js'
import { isRevokedCause, type RevokedCause } from './answers.js'
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
  /** A session hash that is not this token's: another user's, no TTL (a stray write), or another client's. */
  | 'no_session'
  /** This session's own logout ended it. */
  | 'logged_out'
  /** Ended by something else: see `cause`, where it is known. */
  | 'revoked'
  /** Unused for longer than its idle window (its client's, else the TTL in force); also a session that is gone with nothing remembered of it. */
  | 'idle'
  /** Past its absolute end (the token's `exp`, or its client's maximum age). */
  | 'max_age'
  /** The session hash has a layout version this library does not know: upgrade it. */
  | 'unknown_version'

/** Not live, why, and (with `revoked`, when it is known) what ended it. */
export interface NotLive {
  reason: NotLiveReason
  cause?: RevokedCause
}

/** The policy a live session is under: its client's (the hash's `aud` names one with a valid setting), or the global one. */
export type SessionPolicy = 'client' | 'global'

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
  /** When the session ends if it is not used again: the sooner of the idle window and the absolute end. */
  expiresAt: number
  /** The idle window in force for this session, ms, as read with it: its client's, else the TTL ops set, else SESSION_TTL_SECONDS. */
  idleTimeoutMs: number
  /** Redis' clock when the session was read, Unix ms: the time every other field is relative to. */
  readAt: number
  /** `max_expires_at` of the hash: the end the token's `exp` names. */
  maxExpiresAt: number
  /** The absolute end in force: `maxExpiresAt`, or sooner under its client's maximum age. */
  endsAt: number
  /** Whose policy set `idleTimeoutMs` and `endsAt`. */
  policy: SessionPolicy
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

export type ReadResult = { live: true, session: LiveSession } | ({ live: false } & NotLive)

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
 * One read-only round trip, every value fresh: Redis' clock, the hash, its TTL, the user's cutoff
 * and, when there is one, the last revoke-all's record (`at`, `reason`, `kept`: what ended a session
 * below the cutoff); when the hash is gone, how that one session ended (`ended`, if remembered);
 * and, when `<prefix>config` is in the same slot (not a Cluster), its fields named in ARGV: the TTL
 * in force, the untyped window and the token's client's policy, read with the session rather than
 * cached, so a reader is never more lenient than Gatehouse after ops change them. Run with
 * EVALSHA_RO/EVAL_RO, so Redis itself refuses it any write; the user's keys share a hash slot.
 * KEYS: sess, cutoff, ended, revoked record, [config]. Absent values come back as nil.
 */
const READ_SCRIPT = `local t = redis.call('TIME')
local h = redis.call('HGETALL', KEYS[1])
local cutoff = redis.call('GET', KEYS[2])
local ended = false
if #h == 0 then ended = redis.call('GET', KEYS[3]) end
local record = {}
if cutoff then record = redis.call('HMGET', KEYS[4], 'at', 'reason', 'kept') end
local config = {}
if #KEYS > 4 then config = redis.call('HMGET', KEYS[5], unpack(ARGV)) end
return {h, cutoff, t[1], t[2], redis.call('PTTL', KEYS[1]), ended, record, config}`
const READ_SCRIPT_SHA = createHash('sha1').update(READ_SCRIPT).digest('hex')

/** The `<prefix>config` fields the rule reads: the global ones, and the policy of the token's client, if it is bound to one. */
const configFieldsFor = (audience: string | undefined): string[] => [
  'session_ttl_seconds',
  'untyped_tokens_until',
  ...(audience === undefined ? [] : [`client_ttl_seconds:${audience}`, `client_max_age_seconds:${audience}`, `client_ended_before:${audience}`]),
]

/** How many slides may be in flight at once; past it a due slide waits for a later request. */
const MAX_SLIDES_IN_FLIGHT = 10_000
/** After a slide failed (Gatehouse down or slow), none is tried for this long: an outage is not met with a call per request. */
const SLIDE_BACKOFF_MS = 5000

/** A field Gatehouse writes as a plain integer; null when absent or written any other way. */
const integer = (value: string | null | undefined): number | null => (typeof value === 'string' && /^[0-9]{1,16}$/.test(value) ? Number(value) : null)

export function createSessionReader (options: SessionReaderOptions): SessionReader {
  const { redis, keys } = options
  const prefix = options.keyPrefix ?? 'gatehouse:'
  const rules = { issuer: options.issuer ?? DEFAULT_ISSUER, acceptUntyped: options.acceptUntyped ?? true }
  const settings: RuleSettings = { defaultTtlSeconds: options.defaultTtlSeconds ?? 1200, maxAgeSeconds: options.maxAgeSeconds ?? 30 * 24 * 3600 }
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

  async function evalRead (keys: string[], fields: string[]): Promise<unknown[]> {
    const args = [keys.length, ...keys, ...fields]
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

  /** The script's reply, its last element the config fields (configFieldsFor), read in the script or, on a Cluster, beside it. */
  async function readKeys (claims: SessionClaims): Promise<unknown[]> {
    const { user_id: userId, jti } = claims
    const userKeys = [`${prefix}sess:{${userId}}:${jti}`, `${prefix}user:{${userId}}:cutoff`, `${prefix}ended:{${userId}}:${jti}`, `${prefix}user:{${userId}}:revoked`]
    const fields = configFieldsFor(claims.aud)
    if (!cluster) {
      try {
        return await evalRead([...userKeys, configKey], fields)
      } catch (err) {
        if (!(err instanceof Error && /CROSSSLOT/.test(err.message))) throw err
        cluster = true // a Cluster client that does not say so: read config beside the script from now on
      }
    }
    const [reply, config] = await Promise.all([evalRead(userKeys, []), redis.call('HMGET', configKey, ...fields)])
    return [...reply.slice(0, 7), config]
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
    return verified.ok ? session(verified.claims) : notLive({ reason: verified.reason })
  }

  async function session (claims: SessionClaims): Promise<ReadResult> {
    const reply = await bounded(readKeys(claims))
    type Values = (string | null)[]
    const [flat, cutoff, seconds, micros, pttl, ended, record, config] = reply as [string[], string | null, string, string, number, string | null, Values, Values]
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
    // A token from before typing (no iss) passes only while the window Gatehouse recorded is open.
    if (claims.iss === undefined) {
      const until = integer(config[1])
      if (until === null || now >= until) return notLive({ reason: 'invalid_token' })
    }
    const hash: Record<string, string> = {}
    for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!
    const input: SessionInput = {
      hash,
      claims,
      now,
      pttl,
      cutoff,
      revocation: { at: record[0] ?? null, reason: record[1] ?? null, kept: record[2] ?? null },
      ended,
      ttlSeconds: config[0] ?? null,
      client: { ttlSeconds: config[2] ?? null, maxAgeSeconds: config[3] ?? null, endedBefore: config[4] ?? null },
      settings,
    }
    const over = sessionState(input)
    if (over !== null) return notLive(over)

    const policy = policyOf(input)
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
        expiresAt: Math.min(now + pttl, lastSeenAt + policy.ttlMs, policy.endsAt),
        idleTimeoutMs: policy.ttlMs,
        readAt: now,
        maxExpiresAt: integer(hash.max_expires_at)!,
        endsAt: policy.endsAt,
        policy: policy.kind,
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

const notLive = (why: NotLive): ReadResult => ({ live: false, ...why })

/** `work`, or a rejection once `ms` have passed without an answer. */
function withinTimeout<T> (work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/** The deployment's settings the rule needs: SESSION_TTL_SECONDS and SESSION_MAX_AGE_SECONDS. */
export interface RuleSettings {
  defaultTtlSeconds: number
  maxAgeSeconds: number
}

/** A client's policy fields in `<prefix>config`, as stored (null when absent). */
export interface ClientFields {
  /** `client_ttl_seconds:<A>` */
  ttlSeconds: string | null
  /** `client_max_age_seconds:<A>` */
  maxAgeSeconds: string | null
  /** `client_ended_before:<A>` */
  endedBefore: string | null
}

/** Everything the rule reads, as one round trip read it: absent keys and fields are null. */
export interface SessionInput {
  /** The session hash; empty when its key is missing. */
  hash: Record<string, string>
  /** The verified token's claims. */
  claims: Pick<SessionClaims, 'jti' | 'user_id' | 'created_at' | 'exp' | 'aud'>
  /** Redis' clock, Unix ms. */
  now: number
  /** The session key's PTTL. */
  pttl: number
  /** `<prefix>user:{<user_id>}:cutoff`. */
  cutoff: string | null
  /** `<prefix>user:{<user_id>}:revoked`: the last revoke-all's cutoff, cause and the session it kept. */
  revocation: { at: string | null, reason: string | null, kept: string | null }
  /** `<prefix>ended:{<user_id>}:<jti>`: how this one session ended, if remembered. */
  ended: string | null
  /** `<prefix>config` session_ttl_seconds. */
  ttlSeconds: string | null
  /** The policy fields of the token's client (`aud`); all null for an unbound token. */
  client: ClientFields
  settings: RuleSettings
}

/** Whole seconds as the contract writes them, within 1..ceiling; null when not valid (then ignored). */
function validSeconds (raw: string | null, ceiling: number): number | null {
  if (raw === null || !/^[0-9]{1,9}$/.test(raw)) return null
  const seconds = Number(raw)
  return seconds >= 1 && seconds <= ceiling ? seconds : null
}

/** A client's valid maximum age and idle window, seconds: a window above the maximum age (or SESSION_MAX_AGE_SECONDS) is ignored. */
function clientLimits (client: ClientFields, { maxAgeSeconds }: RuleSettings) {
  const maxAge = validSeconds(client.maxAgeSeconds, maxAgeSeconds)
  return { maxAge, ttl: validSeconds(client.ttlSeconds, maxAge ?? maxAgeSeconds) }
}

/** Whether ops ended the client's sessions created at `createdAt`: before its cutoff, or every one when the cutoff is not a time (fail closed). */
const clientEnded = (endedBefore: string | null, createdAt: number): boolean =>
  endedBefore !== null && (!/^[0-9]{1,16}$/.test(endedBefore) || createdAt < Number(endedBefore))

const revoked = (cause: string | null | undefined): NotLive => (isRevokedCause(cause) ? { reason: 'revoked', cause } : { reason: 'revoked' })

/** The policy a session falls under, by its hash's `aud`: the idle window (ms) and the absolute end in force. */
export function policyOf ({ hash, ttlSeconds, client, settings }: SessionInput): { kind: SessionPolicy, ttlMs: number, endsAt: number } {
  const globalTtlMs = (validSeconds(ttlSeconds, settings.maxAgeSeconds) ?? settings.defaultTtlSeconds) * 1000
  const maxExpiresAt = integer(hash.max_expires_at) ?? 0
  // No aud field (a session from before the field) or '' (an unbound token): the global policy.
  if (!hash.aud) return { kind: 'global', ttlMs: globalTtlMs, endsAt: maxExpiresAt }
  const { maxAge, ttl } = clientLimits(client, settings)
  return {
    kind: maxAge === null && ttl === null ? 'global' : 'client',
    ttlMs: ttl === null ? globalTtlMs : ttl * 1000,
    endsAt: maxAge === null ? maxExpiresAt : Math.min(maxExpiresAt, (integer(hash.created_at) ?? 0) + maxAge * 1000),
  }
}

/**
 * The contract's rule (docs/session-contract.md, "Reading a session from another service"), in the
 * order Gatehouse applies it (src/sessions/scripts/includes/session-state.lua): null when the
 * session is live, else why not. `client` must be the fields of the token's `aud`: a hash whose
 * `aud` is another is refused before any policy is read.
 */
export function sessionState (input: SessionInput): NotLive | null {
  const { hash, claims, now, pttl } = input
  if (Object.keys(hash).length === 0) return endedReason(input)
  if (!LAYOUT_VERSIONS.has(hash.v ?? '')) return { reason: 'unknown_version' }
  const maxExpiresAt = integer(hash.max_expires_at)
  // A key without a TTL was recreated by a stray write after it ended: not a session.
  if (hash.user_id !== claims.user_id || maxExpiresAt === null || pttl <= 0) return { reason: 'no_session' }
  // A session of another client (or an unbound one) is not this token's: its policy would not be either.
  if (Object.hasOwn(hash, 'aud') && hash.aud !== (claims.aud ?? '')) return { reason: 'no_session' }
  // One that is not an integer (written by hand) ends every session; a hash from before the field
  // existed belongs to the generation of its creation (ms → µs).
  const cutoff = input.cutoff === null ? 0 : integer(input.cutoff) ?? Infinity
  const generation = integer(hash.generation) ?? (integer(hash.created_at) ?? 0) * 1000
  if (cutoff > 0 && generation < cutoff) return revoked(input.revocation.at === input.cutoff && cutoff !== Infinity ? input.revocation.reason : null)
  // The client whose ending applies is the hash's; a session from before the field has the token's
  // (an ending only shortens a life: its windows stay the global ones, below).
  const endingClient = Object.hasOwn(hash, 'aud') ? hash.aud : claims.aud
  if (endingClient && clientEnded(input.client.endedBefore, integer(hash.created_at) ?? 0)) return revoked('client_ended')
  const policy = policyOf(input)
  if (now >= policy.endsAt) return { reason: 'max_age' }
  // Gatehouse always writes last_seen_at; one that is missing or not an integer is taken as idle (fail closed).
  const lastSeenAt = integer(hash.last_seen_at)
  if (lastSeenAt === null || now - lastSeenAt > policy.ttlMs) return { reason: 'idle' }
  return null
}

/**
 * Why a session whose hash is gone ended, from what is remembered of it and the verified token:
 * this session's ending, the user's last revoke-all, its client's ending, its absolute end; with
 * nothing remembered, it ran out of idle time (Redis expired it).
 */
function endedReason ({ claims, now, cutoff, revocation, ended, client, settings }: SessionInput): NotLive {
  if (ended !== null) return ended === 'logged_out' ? { reason: 'logged_out' } : revoked(ended)
  if (cutoff !== null) {
    const at = integer(cutoff)
    if (at === null) return revoked(null)
    if (at > 0 && claims.created_at * 1000 < at && claims.jti !== revocation.kept) return revoked(revocation.at === cutoff ? revocation.reason : null)
  }
  if (claims.aud !== undefined && clientEnded(client.endedBefore, claims.created_at)) return revoked('client_ended')
  const { maxAge } = clientLimits(client, settings)
  const endsAt = Math.min(claims.exp * 1000, maxAge === null ? Infinity : claims.created_at + maxAge * 1000)
  return { reason: now >= endsAt ? 'max_age' : 'idle' }
}
