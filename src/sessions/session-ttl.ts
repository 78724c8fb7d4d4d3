import { AUDIENCE_PATTERN } from '@gatehouse/session-reader/token'
import type { Log } from '../shared/log.js'
import type { ChainableCommander } from 'ioredis'
import type { RedisClient } from '../redis/client.js'
import { orUnavailable } from '../shared/errors.js'

/**
 * The sliding TTL in force, shared by every instance through Redis: the `<prefix>config` hash
 * (field `session_ttl_seconds`; see docs/session-contract.md). SESSION_TTL_SECONDS is only the
 * default while nothing is set there. Each instance re-reads it every REFRESH_MS and passes it to
 * the session scripts, so a change reaches every instance within a second with no restart, and
 * the hot path costs no extra round trip.
 */
const CONFIG_FIELDS = {
  ttl: 'session_ttl_seconds',
  setBy: 'session_ttl_set_by',
  setAt: 'session_ttl_set_at',
} as const

/**
 * A client's own policy, in the same hash: `<name>:<client>`, the client being the audience its
 * tokens are bound to (`aud`, named at login in JWT_AUD_HEADER). docs/session-contract.md,
 * "Client policies", is the rule readers apply to these fields too.
 */
const CLIENT_FIELDS = {
  ttl: 'client_ttl_seconds',
  maxAge: 'client_max_age_seconds',
  endedBefore: 'client_ended_before',
  setBy: 'client_set_by',
  setAt: 'client_set_at',
} as const
const CLIENT_FIELD = /^client_(ttl_seconds|max_age_seconds|ended_before|set_by|set_at):(.+)$/

/** Most clients with a policy (or an ending) at once: every instance re-reads them all twice a second. */
export const MAX_CLIENTS = 100
/** A `<prefix>config` hash larger than this was filled by hand (Gatehouse writes about 5 * MAX_CLIENTS fields at most). */
const MAX_CONFIG_FIELDS = 5 * MAX_CLIENTS + 50

/** One client's policy, as ops set it. */
export interface ClientPolicy {
  client: string
  /** The idle window, seconds; null: the global TTL in force. */
  ttlSeconds: number | null
  /** The absolute lifetime, seconds; null: SESSION_MAX_AGE_SECONDS. */
  maxAgeSeconds: number | null
  /** Unix ms (Redis clock): every session of this client created before it is over; null: none. */
  endedBefore: number | null
  setBy: string | null
  setAt: number | null
}

/**
 * What the session scripts need to decide a session of a given client: the global TTL in force and
 * the client's own values (only those set; ms). Sent to every script that checks a session.
 */
export interface SessionPolicy {
  ttlMs: number
  clients: Record<string, { ttl?: number, max_age?: number, ended_before?: number }>
}

/** Below one second, so a change is everywhere within one second (plus one Redis round trip). */
export const REFRESH_MS = 500

export interface TtlState {
  /** The TTL in force, seconds. */
  seconds: number
  /** 'override': set in Redis; 'default': SESSION_TTL_SECONDS. */
  source: 'override' | 'default'
  defaultSeconds: number
  /** The highest TTL that may be set: SESSION_MAX_AGE_SECONDS. */
  maxSeconds: number
  /** Who made the last change (set or reset), and when (Unix ms); null if nobody has. */
  setBy: string | null
  setAt: number | null
  /** The clients with a policy of their own (or whose sessions ops ended), by name. */
  clients: ClientPolicy[]
}

export interface TtlChange {
  before: TtlState
  after: TtlState
}

export interface SessionTtl {
  /** The highest TTL that may be set: SESSION_MAX_AGE_SECONDS. */
  readonly maxSeconds: number
  /** The TTL in force on this instance, seconds (no I/O: the last value read from Redis). */
  seconds(): number
  /** Reads the setting from Redis now. */
  read(): Promise<TtlState>
  /** Sets the TTL for every instance; `seconds` must already be valid (see parseTtl). */
  set(seconds: number, by: string): Promise<TtlChange>
  /** Back to SESSION_TTL_SECONDS. */
  reset(by: string): Promise<TtlChange>
  /**
   * The policy scripts apply to a session bound to `client` (its `aud`; null: unbound), from the
   * last values read (no I/O). A client without a policy of its own gets the global one.
   */
  policyFor(client: string | null): SessionPolicy
  /** The policy of every client at once (listings, revoke-all): bounded by MAX_CLIENTS. */
  allPolicies(): SessionPolicy
  /** The idle window and absolute lifetime a new session of `client` gets, seconds. */
  windowFor(client: string | null): { ttlSeconds: number, maxAgeSeconds: number }
  /** Gives a client its own idle window (and absolute lifetime; null: SESSION_MAX_AGE_SECONDS), for every instance. */
  setClient(client: string, ttlSeconds: number, maxAgeSeconds: number | null, by: string): Promise<TtlChange>
  /** The client gets the global policy again. */
  resetClient(client: string, by: string): Promise<TtlChange>
  /** Ends every session of the client that exists now, in one step (Redis time); returns that instant. */
  endClient(client: string, by: string): Promise<number>
  /**
   * Resolves once the clients' policies have been read completely at least once (reading them now
   * if need be; throws `unavailable` if Redis does not answer): a script given no policy for a
   * client would apply the global window, and end sessions a longer one keeps.
   */
  loaded(): Promise<void>
  /** Starts re-reading the setting every REFRESH_MS; `stop` ends it. */
  start(): Promise<void>
  stop(): void
}

export class TtlValueError extends Error {}

const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }

/** "900", "900s", "15m", "2h", "1d" → seconds; throws TtlValueError with a message for a person. */
export function parseTtl (raw: string, maxSeconds: number): number {
  const value = raw.trim()
  const match = /^(\d{1,9})([smhd]?)$/.exec(value)
  if (!match) {
    if (/^-\s*\d/.test(value)) throw new TtlValueError(`the TTL must be positive (got "${raw}")`)
    throw new TtlValueError(`the TTL must be a whole number of seconds, or a duration like 90s, 15m, 2h or 1d (got "${raw}")`)
  }
  const seconds = Number(match[1]) * (UNITS[match[2] ?? ''] ?? 1)
  checkTtl(seconds, maxSeconds)
  return seconds
}

/** Throws TtlValueError unless 1 <= seconds <= maxSeconds. */
function checkTtl (seconds: number, maxSeconds: number): void {
  if (!Number.isInteger(seconds)) throw new TtlValueError(`the TTL must be a whole number of seconds (got ${seconds})`)
  if (seconds < 1) throw new TtlValueError(`the TTL must be at least 1 second (got ${seconds})`)
  if (seconds > maxSeconds) {
    throw new TtlValueError(`the TTL must not exceed the absolute session lifetime, SESSION_MAX_AGE_SECONDS (${formatTtl(maxSeconds)}; got ${formatTtl(seconds)})`)
  }
}

/** 900 → "15m (900 s)". */
export function formatTtl (seconds: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit} (${seconds} s)`
  }
  return `${seconds} s`
}

/** Throws TtlValueError unless `client` can name a client: an audience a token can be bound to. */
export function checkClientName (client: string): void {
  if (!AUDIENCE_PATTERN.test(client)) throw new TtlValueError(`a client is named by the audience its tokens are bound to (JWT-Aud): 1-128 letters, digits and . _ : / -, starting with a letter or digit (got "${client.slice(0, 140)}")`)
}

/** Throws TtlValueError unless the pair is a policy that may be set (see docs/ops.md, "Client policies"). */
export function checkClientWindow (ttlSeconds: number, maxAgeSeconds: number | null, ceilingSeconds: number): void {
  if (maxAgeSeconds !== null) {
    if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 1) throw new TtlValueError(`the maximum age must be a whole number of seconds, at least 1 (got ${maxAgeSeconds})`)
    if (maxAgeSeconds > ceilingSeconds) throw new TtlValueError(`the maximum age must not exceed SESSION_MAX_AGE_SECONDS (${formatTtl(ceilingSeconds)}; got ${formatTtl(maxAgeSeconds)})`)
  }
  const limit = maxAgeSeconds ?? ceilingSeconds
  if (Number.isInteger(ttlSeconds) && ttlSeconds > limit && maxAgeSeconds !== null) {
    throw new TtlValueError(`the idle window must not exceed the client's maximum age (${formatTtl(limit)}; got ${formatTtl(ttlSeconds)})`)
  }
  checkTtl(ttlSeconds, limit)
}

/** Only digits count, as for every reader: whole seconds, and instants (Unix ms). */
const secondsOf = (value: string | undefined): number | null => (value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : null)
const instantOf = (value: string | undefined): number | null => (value !== undefined && /^\d{1,16}$/.test(value) ? Number(value) : null)

/**
 * The clients' policies in a `<prefix>config` hash, by the contract's rule: a value that is not
 * valid is ignored (the global one applies), except an ending, which fails closed.
 */
function clientPoliciesOf (config: Record<string, string>, ceilingSeconds: number): ClientPolicy[] {
  const raw = new Map<string, Record<string, string>>()
  for (const [field, value] of Object.entries(config)) {
    const match = CLIENT_FIELD.exec(field)
    if (!match || !AUDIENCE_PATTERN.test(match[2]!)) continue
    const fields = raw.get(match[2]!) ?? {}
    fields[match[1]!] = value
    raw.set(match[2]!, fields)
  }
  const policies: ClientPolicy[] = []
  for (const [client, fields] of raw) {
    const maxAge = secondsOf(fields.max_age_seconds)
    const maxAgeSeconds = maxAge !== null && maxAge >= 1 && maxAge <= ceilingSeconds ? maxAge : null
    const ttl = secondsOf(fields.ttl_seconds)
    const ttlSeconds = ttl !== null && ttl >= 1 && ttl <= (maxAgeSeconds ?? ceilingSeconds) ? ttl : null
    // Written by hand and not a time: every session of the client is over (as a malformed cutoff).
    const endedBefore = fields.ended_before === undefined ? null : instantOf(fields.ended_before) ?? Number.MAX_SAFE_INTEGER
    policies.push({ client, ttlSeconds, maxAgeSeconds, endedBefore, setBy: fields.set_by ?? null, setAt: instantOf(fields.set_at) })
  }
  return policies.sort((a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0))
}

export interface SessionTtlOptions {
  keyPrefix: string
  defaultSeconds: number
  maxSeconds: number
  log: Log
}

export function createSessionTtl (redis: RedisClient, { keyPrefix, defaultSeconds, maxSeconds, log }: SessionTtlOptions): SessionTtl {
  const configKey = `${keyPrefix}config`
  const fields = [CONFIG_FIELDS.ttl, CONFIG_FIELDS.setBy, CONFIG_FIELDS.setAt]
  let current = defaultSeconds
  let clients = new Map<string, ClientPolicy>()
  let warnedAbout: string | null = null
  let warnedSize = false
  let complete = false
  let timer: NodeJS.Timeout | null = null

  /** A value someone wrote by hand may be anything: it is used only if it is a valid TTL. */
  function stateOf (config: Record<string, string>): TtlState {
    const ttl = config[CONFIG_FIELDS.ttl]
    const base = { defaultSeconds, maxSeconds, setBy: config[CONFIG_FIELDS.setBy] ?? null, setAt: instantOf(config[CONFIG_FIELDS.setAt]), clients: clientPoliciesOf(config, maxSeconds) }
    if (ttl === undefined) return { ...base, seconds: defaultSeconds, source: 'default' }
    const seconds = secondsOf(ttl) ?? Number.NaN
    try {
      checkTtl(seconds, maxSeconds)
    } catch (err) {
      if (warnedAbout !== ttl) log.warn({ key: configKey, field: CONFIG_FIELDS.ttl, value: ttl, reason: (err as Error).message }, 'ignoring an invalid session TTL in Redis; using the default')
      warnedAbout = ttl
      return { ...base, seconds: defaultSeconds, source: 'default' }
    }
    return { ...base, seconds, source: 'override' }
  }

  /**
   * The hash as an object. One filled by hand far past what Gatehouse writes is read in steps:
   * its global fields, then only the clients' (HSCAN MATCH), so that no policy or ending is ever
   * missed (sessions an ending ended would be live again), at a cost that only such a hash pays.
   */
  async function readConfig (): Promise<Record<string, string>> {
    const size = await redis.hlen(configKey)
    if (size <= MAX_CONFIG_FIELDS) return redis.hgetall(configKey)
    if (!warnedSize) log.warn({ key: configKey, fields: size }, 'the config hash has far more fields than Gatehouse writes; reading its client fields a step at a time')
    warnedSize = true
    const values = await redis.hmget(configKey, ...fields)
    const config: Record<string, string> = Object.fromEntries(fields.flatMap((field, i) => (values[i] === null || values[i] === undefined ? [] : [[field, values[i]!]])))
    let cursor = '0'
    do {
      const [next, flat] = await redis.hscan(configKey, cursor, 'MATCH', 'client_*', 'COUNT', 1000)
      for (let i = 0; i + 1 < flat.length; i += 2) config[flat[i]!] = flat[i + 1]!
      cursor = next
    } while (cursor !== '0')
    return config
  }

  const readState = async (): Promise<TtlState> => stateOf(await readConfig())

  const read = () => orUnavailable('redis', readState)

  function adopt (state: TtlState): void {
    current = state.seconds
    clients = new Map(state.clients.map((policy) => [policy.client, policy]))
    complete = true
  }

  /** Writes, then reads back; `before` is what the change replaced (the write is one MULTI). */
  async function change (write: (multi: ChainableCommander) => void): Promise<TtlChange> {
    return orUnavailable('redis', async () => {
      const before = await readState()
      const multi = redis.multi()
      write(multi)
      const results = (await multi.exec()) ?? []
      for (const [err] of results) if (err) throw err
      const after = await readState()
      adopt(after)
      return { before, after }
    })
  }

  async function refresh (): Promise<void> {
    const state = await read()
    if (state.seconds !== current) {
      log.info({ oldTtlSeconds: current, newTtlSeconds: state.seconds, source: state.source, setBy: state.setBy }, 'session TTL changed')
    }
    adopt(state)
  }

  /** A client's values as the scripts take them (ms), only those it has. */
  function clientEntry (policy: ClientPolicy): SessionPolicy['clients'][string] {
    return {
      ...(policy.ttlSeconds !== null && { ttl: policy.ttlSeconds * 1000 }),
      ...(policy.maxAgeSeconds !== null && { max_age: policy.maxAgeSeconds * 1000 }),
      ...(policy.endedBefore !== null && { ended_before: policy.endedBefore }),
    }
  }

  /**
   * Refuses a new client beyond MAX_CLIENTS (with a policy or an ending). Endings are never dropped
   * here: whether every session one ended is past its end depends on maximum ages that may have
   * been longer then (ops.md says how to remove an old one by hand).
   */
  async function makeRoomFor (client: string): Promise<void> {
    const known = (await read()).clients
    if (known.length >= MAX_CLIENTS && !known.some((policy) => policy.client === client)) {
      throw new TtlValueError(`at most ${MAX_CLIENTS} clients may have a policy or an ending; reset one first`)
    }
  }

  const clientFields = (client: string) => Object.values(CLIENT_FIELDS).map((name) => `${name}:${client}`)

  return {
    maxSeconds,
    seconds: () => current,
    read,
    set: (seconds, by) => {
      checkTtl(seconds, maxSeconds)
      return change((multi) => multi.hset(configKey, CONFIG_FIELDS.ttl, String(seconds), CONFIG_FIELDS.setBy, by, CONFIG_FIELDS.setAt, String(Date.now())))
    },
    reset: (by) =>
      change((multi) => multi.hdel(configKey, CONFIG_FIELDS.ttl).hset(configKey, CONFIG_FIELDS.setBy, by, CONFIG_FIELDS.setAt, String(Date.now()))),
    policyFor (client) {
      const policy = client === null ? undefined : clients.get(client)
      return { ttlMs: current * 1000, clients: policy ? { [policy.client]: clientEntry(policy) } : {} }
    },
    allPolicies: () => ({ ttlMs: current * 1000, clients: Object.fromEntries([...clients.values()].map((policy) => [policy.client, clientEntry(policy)])) }),
    windowFor (client) {
      const policy = client === null ? undefined : clients.get(client)
      return { ttlSeconds: policy?.ttlSeconds ?? Math.min(current, policy?.maxAgeSeconds ?? maxSeconds), maxAgeSeconds: policy?.maxAgeSeconds ?? maxSeconds }
    },
    async setClient (client, ttlSeconds, maxAgeSeconds, by) {
      checkClientName(client)
      checkClientWindow(ttlSeconds, maxAgeSeconds, maxSeconds)
      await makeRoomFor(client)
      return change((multi) => {
        multi.hset(configKey, `${CLIENT_FIELDS.ttl}:${client}`, String(ttlSeconds), `${CLIENT_FIELDS.setBy}:${client}`, by, `${CLIENT_FIELDS.setAt}:${client}`, String(Date.now()))
        if (maxAgeSeconds === null) multi.hdel(configKey, `${CLIENT_FIELDS.maxAge}:${client}`)
        else multi.hset(configKey, `${CLIENT_FIELDS.maxAge}:${client}`, String(maxAgeSeconds))
      })
    },
    resetClient (client, by) {
      checkClientName(client)
      void by // the caller logs who; the fields go, so the client is listed no more (unless ended)
      return change((multi) => multi.hdel(configKey, ...clientFields(client).filter((field) => !field.startsWith(`${CLIENT_FIELDS.endedBefore}:`))))
    },
    async endClient (client, by) {
      checkClientName(client)
      await makeRoomFor(client)
      const at = await orUnavailable('redis', async () => Number(await redis.eval(END_CLIENT_SCRIPT, 1, configKey, `${CLIENT_FIELDS.endedBefore}:${client}`, `${CLIENT_FIELDS.setBy}:${client}`, by)))
      await refresh().catch(() => {})
      return at
    },
    async loaded () {
      if (!complete) await refresh()
    },
    async start () {
      // Starting with Redis down is allowed (requests get 503 until it is back): the default holds until then.
      await refresh().catch(() => {})
      const tick = () => {
        timer = setTimeout(() => { void refresh().catch(() => {}).finally(() => timer && tick()) }, REFRESH_MS)
        timer.unref()
      }
      tick()
    },
    stop () {
      if (timer) clearTimeout(timer)
      timer = null
    },
  }
}

/**
 * Ends a client's sessions: its `ended_before` becomes Redis' time now (never moved back), so every
 * instance and reader compares the sessions' created_at (Redis' clock too) with the same instant.
 */
const END_CLIENT_SCRIPT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = math.max(now, tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') or 0)
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', at), ARGV[2], ARGV[3])
return string.format('%.0f', at)`
