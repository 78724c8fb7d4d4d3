import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { ConfigError } from './config-error.js'
import { type JwtConfig, loadJwtConfig } from './jwt.js'

export { ConfigError }

/** Every setting Gatehouse reads, validated once at start-up (see README, "Configuration"). */
export interface Config {
  production: boolean
  port: number
  host: string
  databaseUrl: string
  /** Most connections to Postgres this instance opens (the pg pool's size). */
  databasePoolSize: number
  /** Which Redis: one server, a Cluster or a Sentinel-managed primary (REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS). */
  redis: RedisTarget
  /** Prepended to every Redis key, so several deployments (or test runs) can share one Redis. */
  redisKeyPrefix: string
  /** Upper bound on one Redis command; past it the request fails with 503 instead of hanging. */
  redisCommandTimeoutMs: number
  /** Replicas that must confirm a logout or revoke-all before it is answered (WAIT); 0: do not wait. */
  redisWaitReplicas: number
  jwt: JwtConfig
  /**
   * Sliding window: a session unused for this long is gone. Only the default: the TTL in force
   * is the one set in Redis by ops, if any (see sessions/session-ttl.ts).
   */
  sessionTtlSeconds: number
  /** Absolute lifetime: no session outlives this, however active. Also the token's `exp`. */
  sessionMaxAgeSeconds: number
  /** Most live sessions a user may have; a login beyond it ends the least recently used. 0: no limit. */
  sessionMaxPerUser: number
  /** Which proxies to believe about the client's address (Fastify's `trustProxy`). */
  trustProxy: boolean | number | string[]
  /** Work factor of new password hashes; older hashes of a lower cost are upgraded at login. */
  bcryptCost: number
  /** Worker threads that run bcrypt, off the event loop. */
  bcryptThreads: number
  /** Password hashes that may wait for a thread; beyond it a login or sign-up gets 503 at once. */
  bcryptMaxQueue: number
  throttle: ThrottleConfig
  /** Settings of the optional cookie transport for web apps on the same site. */
  cookies: CookieConfig
  /** Upper bound on one Postgres connection attempt or query; past it the request fails with 503. */
  databaseTimeoutMs: number
  /** On SIGTERM, /ready answers 503 for this long before the server stops accepting (load balancers notice). */
  shutdownDrainSeconds: number
  /** Approximate cap on the `<prefix>events` stream (XADD MAXLEN ~). */
  eventsMaxLength: number
  /**
   * `expired` events from Redis keyspace notifications: 'configure' listens and turns the
   * notifications on if needed, 'listen' only listens (ops set them), 'off' publishes none.
   */
  expiredEvents: 'configure' | 'listen' | 'off'
  /** Credentials other services present to POST /introspect; empty turns the endpoint off. */
  introspectionTokens: string[]
  logLevel: (typeof LOG_LEVELS)[number]
  /** Origins allowed to call the API from a browser; empty means CORS is off. */
  corsOrigins: string[]
}

export interface HostPort {
  host: string
  port: number
}

/** Credentials for Cluster nodes or a Sentinel-managed primary (a single server has them in REDIS_URL). */
export interface RedisAuth {
  username?: string
  password?: string
}

export type RedisTarget =
  | { mode: 'single'; url: string }
  | ({ mode: 'cluster'; nodes: HostPort[] } & RedisAuth)
  | ({ mode: 'sentinel'; sentinels: HostPort[]; name: string; sentinelPassword?: string } & RedisAuth)

/** Brute-force limits, kept in Redis so every instance shares them. */
export interface ThrottleConfig {
  /**
   * Failed password checks per account from one client network (IPv4 /24, IPv6 /64) per window;
   * then 429 from that network until it ends. The limit a guesser meets.
   */
  loginFailuresPerAccountNetwork: number
  /** Failed password checks per account from all networks together per window: the backstop. */
  loginFailuresPerAccount: number
  /** Failed password checks per client address (an IPv6 /64) per window. */
  loginFailuresPerIp: number
  loginWindowSeconds: number
  /** Sign-up attempts per client address per window. */
  signupsPerIp: number
  signupWindowSeconds: number
}

export interface CookieConfig {
  /** What POST /sessions does when the body names no `transport`. */
  defaultTransport: 'header' | 'cookie'
  /** Secure cookies (and the `__Host-` name). Only plain-http local development turns it off. */
  secure: boolean
}

export type Env = Record<string, string | undefined>

export const DEFAULTS = {
  PORT: '3000',
  HOST: '127.0.0.1',
  DATABASE_URL: 'postgresql://postgres:postgres@127.0.0.1:5432/gatehouse',
  REDIS_URL: 'redis://127.0.0.1:6379',
  REDIS_KEY_PREFIX: 'gatehouse:',
  REDIS_COMMAND_TIMEOUT_MS: '1000',
  SESSION_TTL_SECONDS: '1200',
  SESSION_MAX_AGE_SECONDS: String(30 * 24 * 3600),
  SESSION_MAX_PER_USER: '100',
  TRUST_PROXY: 'false',
  BCRYPT_COST: '12',
  BCRYPT_THREADS: String(availableParallelism()),
  BCRYPT_MAX_QUEUE: '',
  LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: '10',
  LOGIN_MAX_FAILURES_PER_ACCOUNT: '100',
  LOGIN_MAX_FAILURES_PER_IP: '100',
  LOGIN_FAILURE_WINDOW_SECONDS: '900',
  SIGNUP_MAX_PER_IP: '20',
  SIGNUP_WINDOW_SECONDS: '3600',
  SESSION_TRANSPORT: 'header',
  COOKIE_SECURE: 'true',
  DATABASE_TIMEOUT_MS: '2000',
  DATABASE_POOL_SIZE: '10',
  REDIS_CLUSTER_NODES: '',
  REDIS_SENTINELS: '',
  REDIS_SENTINEL_NAME: '',
  REDIS_USERNAME: '',
  REDIS_PASSWORD: '',
  REDIS_SENTINEL_PASSWORD: '',
  REDIS_WAIT_REPLICAS: '0',
  SHUTDOWN_DRAIN_SECONDS: '5',
  EVENTS_MAX_LENGTH: '100000',
  EXPIRED_EVENTS: 'configure',
  INTROSPECTION_TOKENS: '',
  LOG_LEVEL: 'info',
  CORS_ORIGINS: '',
} as const

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export interface LoadedConfig {
  config: Config
  /** Things worth telling the operator at start-up (e.g. a generated development secret). */
  warnings: string[]
}

export interface LoadConfigOptions {
  /** Where a development JWT secret is kept between restarts. */
  devSecretFile?: string
}

/** Reads and validates the configuration; throws ConfigError naming the first bad variable. */
export function loadConfig (env: Env, options: LoadConfigOptions = {}): LoadedConfig {
  const read = (name: keyof typeof DEFAULTS): string => {
    const value = env[name]
    return value === undefined || value === '' ? DEFAULTS[name] : value
  }
  const production = env.NODE_ENV === 'production'
  const warnings: string[] = []

  const sessionTtlSeconds = integer('SESSION_TTL_SECONDS', read('SESSION_TTL_SECONDS'), 1, 365 * 24 * 3600)
  const sessionMaxAgeSeconds = integer('SESSION_MAX_AGE_SECONDS', read('SESSION_MAX_AGE_SECONDS'), 1, 10 * 365 * 24 * 3600)
  if (sessionTtlSeconds > sessionMaxAgeSeconds) {
    throw new ConfigError('SESSION_TTL_SECONDS', `(${sessionTtlSeconds}) must not exceed SESSION_MAX_AGE_SECONDS (${sessionMaxAgeSeconds})`)
  }

  const jwt = loadJwtConfig(env, production, options.devSecretFile ?? '.gatehouse-dev-secret', warnings)

  const logLevel = oneOf('LOG_LEVEL', read('LOG_LEVEL'), LOG_LEVELS)

  const redisKeyPrefix = read('REDIS_KEY_PREFIX')
  if (!/^[A-Za-z0-9:_.\-{}]{1,64}$/.test(redisKeyPrefix)) {
    throw new ConfigError('REDIS_KEY_PREFIX', 'must be 1-64 characters of letters, digits and : _ . - { }')
  }
  const redis = redisTarget(env, read)
  // Each user's keys share a hash tag, {<user_id>} (sessions/keys.ts); a brace in the prefix would
  // come first and decide the slot instead, which breaks that (or piles every key on one shard).
  if (redis.mode === 'cluster' && /[{}]/.test(redisKeyPrefix)) {
    throw new ConfigError('REDIS_KEY_PREFIX', 'must not contain { or } with REDIS_CLUSTER_NODES: the keys carry their own hash tags')
  }

  const cookieSecure = oneOf('COOKIE_SECURE', read('COOKIE_SECURE'), ['true', 'false'] as const) === 'true'
  // Browsers see https at the proxy even where TLS ends before Gatehouse: a production cookie is always Secure.
  if (production && !cookieSecure) throw new ConfigError('COOKIE_SECURE', 'must be true with NODE_ENV=production')

  const corsOrigins = origins(read('CORS_ORIGINS'))
  const defaultTransport = oneOf('SESSION_TRANSPORT', read('SESSION_TRANSPORT'), ['header', 'cookie'] as const)
  if (defaultTransport === 'cookie' && corsOrigins.length === 0) {
    throw new ConfigError('SESSION_TRANSPORT', 'cookie needs CORS_ORIGINS: the web app origins whose pages may use the cookie')
  }

  const bcryptThreads = integer('BCRYPT_THREADS', read('BCRYPT_THREADS'), 1, 64)
  // Default: about 16 hashes' worth of waiting per thread (some 5 s at cost 12 here), then 503.
  const bcryptMaxQueue = integer('BCRYPT_MAX_QUEUE', read('BCRYPT_MAX_QUEUE') || String(16 * bcryptThreads), 1, 100_000)

  return {
    config: {
      production,
      port: integer('PORT', read('PORT'), 0, 65535),
      host: read('HOST'),
      databaseUrl: url('DATABASE_URL', read('DATABASE_URL'), ['postgres:', 'postgresql:']),
      databasePoolSize: integer('DATABASE_POOL_SIZE', read('DATABASE_POOL_SIZE'), 1, 1000),
      redis,
      redisKeyPrefix,
      redisCommandTimeoutMs: integer('REDIS_COMMAND_TIMEOUT_MS', read('REDIS_COMMAND_TIMEOUT_MS'), 50, 60_000),
      redisWaitReplicas: integer('REDIS_WAIT_REPLICAS', read('REDIS_WAIT_REPLICAS'), 0, 10),
      jwt,
      sessionTtlSeconds,
      sessionMaxAgeSeconds,
      sessionMaxPerUser: integer('SESSION_MAX_PER_USER', read('SESSION_MAX_PER_USER'), 0, 10_000),
      trustProxy: trustProxy(read('TRUST_PROXY')),
      bcryptCost: integer('BCRYPT_COST', read('BCRYPT_COST'), 10, 15),
      bcryptThreads,
      bcryptMaxQueue,
      throttle: {
        loginFailuresPerAccountNetwork: integer('LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK', read('LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK'), 1, 1_000_000),
        loginFailuresPerAccount: integer('LOGIN_MAX_FAILURES_PER_ACCOUNT', read('LOGIN_MAX_FAILURES_PER_ACCOUNT'), 1, 1_000_000),
        loginFailuresPerIp: integer('LOGIN_MAX_FAILURES_PER_IP', read('LOGIN_MAX_FAILURES_PER_IP'), 1, 1_000_000),
        loginWindowSeconds: integer('LOGIN_FAILURE_WINDOW_SECONDS', read('LOGIN_FAILURE_WINDOW_SECONDS'), 1, 7 * 24 * 3600),
        signupsPerIp: integer('SIGNUP_MAX_PER_IP', read('SIGNUP_MAX_PER_IP'), 1, 1_000_000),
        signupWindowSeconds: integer('SIGNUP_WINDOW_SECONDS', read('SIGNUP_WINDOW_SECONDS'), 1, 7 * 24 * 3600),
      },
      cookies: {
        defaultTransport,
        secure: cookieSecure,
      },
      databaseTimeoutMs: integer('DATABASE_TIMEOUT_MS', read('DATABASE_TIMEOUT_MS'), 100, 60_000),
      shutdownDrainSeconds: integer('SHUTDOWN_DRAIN_SECONDS', read('SHUTDOWN_DRAIN_SECONDS'), 0, 300),
      eventsMaxLength: integer('EVENTS_MAX_LENGTH', read('EVENTS_MAX_LENGTH'), 1000, 100_000_000),
      expiredEvents: oneOf('EXPIRED_EVENTS', read('EXPIRED_EVENTS'), ['configure', 'listen', 'off'] as const),
      introspectionTokens: introspectionTokens(read('INTROSPECTION_TOKENS')),
      logLevel,
      corsOrigins,
    },
    warnings,
  }
}

/** Exactly one of REDIS_URL (the default), REDIS_CLUSTER_NODES, REDIS_SENTINELS + REDIS_SENTINEL_NAME. */
function redisTarget (env: Env, read: (name: keyof typeof DEFAULTS) => string): RedisTarget {
  const clusterNodes = read('REDIS_CLUSTER_NODES')
  const sentinels = read('REDIS_SENTINELS')
  const auth: RedisAuth = {
    ...(read('REDIS_USERNAME') ? { username: read('REDIS_USERNAME') } : {}),
    ...(read('REDIS_PASSWORD') ? { password: read('REDIS_PASSWORD') } : {}),
  }
  const explicitUrl = Boolean(env.REDIS_URL)
  if (clusterNodes && sentinels) throw new ConfigError('REDIS_CLUSTER_NODES', 'and REDIS_SENTINELS cannot both be set: pick one')
  if (clusterNodes || sentinels) {
    const name = clusterNodes ? 'REDIS_CLUSTER_NODES' : 'REDIS_SENTINELS'
    if (explicitUrl) throw new ConfigError(name, 'and REDIS_URL cannot both be set: pick one')
    if (clusterNodes) return { mode: 'cluster', nodes: hostPorts(name, clusterNodes), ...auth }
    const master = read('REDIS_SENTINEL_NAME')
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(master)) throw new ConfigError('REDIS_SENTINEL_NAME', 'must name the primary the Sentinels monitor (1-64 letters, digits, . _ -)')
    const sentinelPassword = read('REDIS_SENTINEL_PASSWORD')
    return { mode: 'sentinel', sentinels: hostPorts(name, sentinels), name: master, ...auth, ...(sentinelPassword ? { sentinelPassword } : {}) }
  }
  for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD'] as const) {
    if (read(name)) throw new ConfigError(name, 'is only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS (a single server takes its credentials in REDIS_URL)')
  }
  return { mode: 'single', url: url('REDIS_URL', read('REDIS_URL'), ['redis:', 'rediss:']) }
}

/** [{host, port}...] → "10.0.0.1:7000,redis-b:7000", as REDIS_CLUSTER_NODES and REDIS_SENTINELS take them. */
export const formatHostPorts = (nodes: HostPort[]) => nodes.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)).join(',')

/** "10.0.0.1:7000,redis-b:7000" → [{host, port}...]. */
function hostPorts (name: string, raw: string): HostPort[] {
  return raw.split(',').map((item) => item.trim()).filter(Boolean).map((item) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item)
    const port = Number(match?.[2])
    if (!match || port < 1 || port > 65535) throw new ConfigError(name, `must be a comma-separated list of host:port (got "${item}")`)
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
  })
}

function integer (name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number (got "${raw}")`)
  const value = Number(raw.trim())
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max} (got ${value})`)
  return value
}

function oneOf<T extends string> (name: string, raw: string, values: readonly T[]): T {
  if (!values.includes(raw as T)) throw new ConfigError(name, `must be one of ${values.join(', ')} (got "${raw}")`)
  return raw as T
}

/** Comma-separated service credentials: long random strings, like the JWT secret. */
function introspectionTokens (raw: string): string[] {
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean)
  for (const token of list) {
    if (token.length < 32) throw new ConfigError('INTROSPECTION_TOKENS', 'each token must be at least 32 characters (e.g. openssl rand -base64 32)')
  }
  return list
}

function url (name: string, raw: string, protocols: string[]): string {
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError(name, 'must be a URL')
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`)
  }
  return raw
}

function origins (raw: string): string[] {
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean)
  for (const origin of list) {
    if (origin === '*') throw new ConfigError('CORS_ORIGINS', 'must list origins explicitly ("*" is not allowed)')
    let parsed: URL
    try {
      parsed = new URL(origin)
    } catch {
      throw new ConfigError('CORS_ORIGINS', `has an entry that is not an origin: "${origin}"`)
    }
    if (parsed.origin !== origin) throw new ConfigError('CORS_ORIGINS', `entries must be bare origins like https://app.example.com (got "${origin}")`)
  }
  return list
}

/** "false", "true", a number of proxy hops, or a comma-separated list of proxy addresses / CIDRs. */
function trustProxy (raw: string): boolean | number | string[] {
  const value = raw.trim()
  if (value === 'false') return false
  if (value === 'true') return true
  if (/^\d+$/.test(value)) return integer('TRUST_PROXY', value, 1, 100)
  const list = value.split(',').map((s) => s.trim()).filter(Boolean)
  if (list.length === 0) throw new ConfigError('TRUST_PROXY', `must be true, false, a number of hops, or proxy addresses/CIDRs (got "${raw}")`)
  for (const entry of list) {
    const [address = '', bits, ...rest] = entry.split('/')
    const version = isIP(address)
    const maxBits = version === 6 ? 128 : 32
    const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits)
    if (version === 0 || !bitsOk || rest.length > 0) {
      throw new ConfigError('TRUST_PROXY', `must be true, false, a number of hops, or proxy addresses/CIDRs (got "${entry}")`)
    }
  }
  return list
}
