import { createHash } from 'node:crypto'
import { MAX_TOKEN_LENGTH } from './credentials.js'
import { ReaderUnavailableError } from './errors.js'
import { createSlides, type IntrospectionTarget } from './introspection.js'
import { createKeySet, type VerificationKeys } from './keys.js'
import { integer, type NotLive, policyOf, type RuleSettings, type SessionInput, type SessionPolicy, sessionState } from './liveness.js'
import { audienceMatches, DEFAULT_ISSUER, type SessionClaims, sessionClaimsOf } from './token.js'

/**
 * A reader: the token step (keys.ts), then one read-only round trip to Redis, whose values the
 * liveness rule decides on (liveness.ts); sliding goes through Gatehouse (introspection.ts).
 */

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
  introspection?: IntrospectionTarget
}

/** A live session as one read found it: its times are relative to `readAt`, and it does not change afterwards. */
export interface SessionSnapshot {
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

/**
 * @deprecated Renamed `SessionSnapshot`, which says what it is (Gatehouse's own code has a
 * `LiveSession` that is another thing). This alias goes in the release after this one.
 */
export type LiveSession = SessionSnapshot

export type ReadResult = { live: true, session: SessionSnapshot } | ({ live: false } & NotLive)

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
  extendIfDue(token: string, session: SessionSnapshot): Promise<boolean>
}

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

  const { extend, extendIfDue } = createSlides(options)

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
