import { resolve } from 'node:path'
import { ConfigError } from './config-error.js'
import { DEV_KEY_FILES, type DevKeyFiles, type JwtConfig, loadJwtConfig } from './jwt.js'
import { formatHostPorts, type HostPort } from './parsers.js'
import { LOG_FORMATS, LOG_LEVELS, SETTINGS, type SettingName, type SettingValue } from './settings.js'

export { ConfigError, formatHostPorts, type HostPort }

/**
 * Every setting Gatehouse reads, validated once at start-up. Each field is named after its
 * variable; what it means, its default and what it accepts are in settings.ts (and, generated from
 * it, docs/configuration.md).
 */
export interface Config {
  /** NODE_ENV=production */
  production: boolean
  port: number
  host: string
  /** DATABASE_URL, or (unset, outside production) the embedded database in EMBEDDED_DATABASE_DIR. */
  database: DatabaseTarget
  databasePoolSize: number
  /** REDIS_URL, or REDIS_CLUSTER_NODES, or REDIS_SENTINELS with REDIS_SENTINEL_NAME; REDIS_USERNAME and the passwords. */
  redis: RedisTarget
  redisKeyPrefix: string
  redisCommandTimeoutMs: number
  redisWaitReplicas: number
  /** JWT_* */
  jwt: JwtConfig
  /** Only the default: the TTL in force is the one set in Redis by ops, if any (sessions/session-ttl.ts). */
  sessionTtlSeconds: number
  sessionMaxAgeSeconds: number
  sessionMaxPerUser: number
  /** Fastify's `trustProxy`. */
  trustProxy: boolean | number | string[]
  bcryptCost: number
  bcryptThreads: number
  bcryptMaxQueue: number
  bcryptDeadlineMs: number
  bcryptNice: number
  throttle: ThrottleConfig
  cookies: CookieConfig
  databaseTimeoutMs: number
  shutdownDrainSeconds: number
  eventsMaxLength: number
  expiredEvents: 'configure' | 'listen' | 'off'
  introspectionTokens: string[]
  logLevel: (typeof LOG_LEVELS)[number]
  /** LOG_FORMAT, resolved by the server's log stream (src/log-stream.ts): auto looks at the terminal. */
  logFormat: (typeof LOG_FORMATS)[number]
  corsOrigins: string[]
  /** CONSOLE_ENABLED: the ops console at /console. */
  consoleEnabled: boolean
  /** CONSOLE_HOSTS: the hosts (`name` or `name:port`, lower case) the console is served at; empty: any. */
  consoleHosts: string[]
  mail: MailConfig
  /** REQUIRE_VERIFIED_EMAIL */
  requireVerifiedEmail: boolean
}

/** Account mail (password reset, email verification): MAIL_*, SMTP_URL and the token settings. */
export interface MailConfig {
  /** MAIL_TRANSPORT resolved: null when there is no mail (and no routes that need it). */
  transport: { mode: 'smtp'; url: string } | { mode: 'files'; dir: string } | null
  from: string
  /** PASSWORD_RESET_URL and EMAIL_VERIFICATION_URL: link templates with `{token}`, or null (the code only). */
  resetUrl: string | null
  verificationUrl: string | null
  resetTtlMinutes: number
  verificationTtlMinutes: number
}

export type DatabaseTarget =
  | { mode: 'postgres'; url: string }
  /** `dir` is absolute: the CLI and the server must name the same folder. */
  | { mode: 'embedded'; dir: string }

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
  /** LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: the limit a guesser meets. */
  loginFailuresPerAccountNetwork: number
  /** LOGIN_MAX_FAILURES_PER_ACCOUNT: the backstop. */
  loginFailuresPerAccount: number
  /** LOGIN_MAX_FAILURES_PER_IP */
  loginFailuresPerIp: number
  /** LOGIN_FAILURE_WINDOW_SECONDS */
  loginWindowSeconds: number
  /** SIGNUP_MAX_PER_IP */
  signupsPerIp: number
  signupWindowSeconds: number
  /** MAIL_MAX_PER_EMAIL, MAIL_MAX_PER_IP: reset and verification requests per hour. */
  mailRequestsPerEmail: number
  mailRequestsPerIp: number
  /** MAIL_MAX_PER_HOUR: account mails sent per hour by all instances. */
  mailsPerHour: number
}

/** The optional cookie transport for web apps on the same site. */
export interface CookieConfig {
  /** SESSION_TRANSPORT */
  defaultTransport: 'header' | 'cookie'
  /** COOKIE_SECURE */
  secure: boolean
  /** COOKIE_DOMAIN: null for host-only cookies. */
  domain: string | null
}

export type Env = Record<string, string | undefined>

/** Each variable's default (settings.ts), as text. */
export const DEFAULTS = Object.fromEntries(
  Object.entries(SETTINGS).map(([name, setting]) => [name, setting.default])
) as Record<SettingName, string>

export interface LoadedConfig {
  config: Config
  /** Things worth telling the operator at start-up (e.g. a generated development secret). */
  warnings: string[]
}

export interface LoadConfigOptions {
  /** Where development signing keys are kept between restarts (default DEV_KEY_FILES). */
  devKeyFiles?: Partial<DevKeyFiles>
}

/** Reads and validates the configuration; throws ConfigError naming the first bad variable. */
export function loadConfig (env: Env, options: LoadConfigOptions = {}): LoadedConfig {
  const read = (name: SettingName): string => {
    const value = env[name]
    return value === undefined || value === '' ? DEFAULTS[name] : value
  }
  const value = <K extends SettingName>(name: K, raw = read(name)): SettingValue<K> => SETTINGS[name].values.parse(name, raw) as SettingValue<K>
  // The order of the checks below decides which error a configuration with several bad values gets.
  const production = value('NODE_ENV')
  const warnings: string[] = []

  const sessionTtlSeconds = value('SESSION_TTL_SECONDS')
  const sessionMaxAgeSeconds = value('SESSION_MAX_AGE_SECONDS')
  if (sessionTtlSeconds > sessionMaxAgeSeconds) {
    throw new ConfigError('SESSION_TTL_SECONDS', `(${sessionTtlSeconds}) must not exceed SESSION_MAX_AGE_SECONDS (${sessionMaxAgeSeconds})`)
  }

  const jwt: JwtConfig = {
    ...loadJwtConfig(env, production, { ...DEV_KEY_FILES, ...options.devKeyFiles }, warnings),
    issuer: value('JWT_ISSUER'),
    acceptUntyped: value('JWT_ACCEPT_UNTYPED'),
    // Lower-cased, as Node gives header names.
    audienceHeader: value('JWT_AUD_HEADER').toLowerCase(),
    verifiedCacheSize: value('JWT_VERIFIED_CACHE_SIZE'),
  }

  const logLevel = value('LOG_LEVEL')

  const redisKeyPrefix = value('REDIS_KEY_PREFIX')
  const redis = redisTarget(env, read, value)
  // Each user's keys share a hash tag, {<user_id>} (sessions/keys.ts); a brace in the prefix would
  // come first and decide the slot instead, which breaks that (or piles every key on one shard).
  if (redis.mode === 'cluster' && /[{}]/.test(redisKeyPrefix)) {
    throw new ConfigError('REDIS_KEY_PREFIX', 'must not contain { or } with REDIS_CLUSTER_NODES: the keys carry their own hash tags')
  }

  const database = databaseTarget(production, value('DATABASE_URL'), value('EMBEDDED_DATABASE_DIR'), env, warnings)

  const consoleEnabled = value('CONSOLE_ENABLED')
  const consoleHosts = value('CONSOLE_HOSTS')
  // A value of only commas is a list someone meant to fill: "every host" must be said by leaving it empty.
  if (consoleHosts.length === 0 && read('CONSOLE_HOSTS').trim() !== '') {
    throw new ConfigError('CONSOLE_HOSTS', 'names no host: list the console\'s host names (ops.example.com), or leave it empty for any host')
  }
  if (production && consoleEnabled && consoleHosts.length === 0) {
    warnings.push('CONSOLE_HOSTS is empty: the console trusts any Host name as its own origin (a DNS-rebinding page included); set it to the console\'s host names (docs/console.md#where-to-serve-it)')
  }

  const cookieSecure = value('COOKIE_SECURE')
  // Browsers see https at the proxy even where TLS ends before Gatehouse: a production cookie is always Secure.
  if (production && !cookieSecure) throw new ConfigError('COOKIE_SECURE', 'must be true with NODE_ENV=production')

  const corsOrigins = value('CORS_ORIGINS')
  const defaultTransport = value('SESSION_TRANSPORT')
  if (defaultTransport === 'cookie' && corsOrigins.length === 0) {
    throw new ConfigError('SESSION_TRANSPORT', 'cookie needs CORS_ORIGINS: the web app origins whose pages may use the cookie')
  }

  const mail = mailConfig(production, env, value, warnings)
  const requireVerifiedEmail = value('REQUIRE_VERIFIED_EMAIL')
  // Nobody could confirm an email, so nobody who signs up could ever log in.
  if (requireVerifiedEmail && mail.transport === null) throw new ConfigError('REQUIRE_VERIFIED_EMAIL', 'needs account mail (SMTP_URL): with no mail, no new user could ever confirm an email')

  const bcryptThreads = value('BCRYPT_THREADS')
  // Default: about 16 hashes' worth of waiting per thread (some 5 s at cost 12 here), then 503.
  const bcryptMaxQueue = value('BCRYPT_MAX_QUEUE', read('BCRYPT_MAX_QUEUE') || String(16 * bcryptThreads))

  return {
    config: {
      production,
      port: value('PORT'),
      host: value('HOST'),
      database,
      databasePoolSize: value('DATABASE_POOL_SIZE'),
      redis,
      redisKeyPrefix,
      redisCommandTimeoutMs: value('REDIS_COMMAND_TIMEOUT_MS'),
      redisWaitReplicas: value('REDIS_WAIT_REPLICAS'),
      jwt,
      sessionTtlSeconds,
      sessionMaxAgeSeconds,
      sessionMaxPerUser: value('SESSION_MAX_PER_USER'),
      trustProxy: value('TRUST_PROXY'),
      bcryptCost: value('BCRYPT_COST'),
      bcryptThreads,
      bcryptMaxQueue,
      bcryptDeadlineMs: value('BCRYPT_DEADLINE_MS'),
      bcryptNice: value('BCRYPT_NICE'),
      throttle: {
        loginFailuresPerAccountNetwork: value('LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK'),
        loginFailuresPerAccount: value('LOGIN_MAX_FAILURES_PER_ACCOUNT'),
        loginFailuresPerIp: value('LOGIN_MAX_FAILURES_PER_IP'),
        loginWindowSeconds: value('LOGIN_FAILURE_WINDOW_SECONDS'),
        signupsPerIp: value('SIGNUP_MAX_PER_IP'),
        signupWindowSeconds: value('SIGNUP_WINDOW_SECONDS'),
        mailRequestsPerEmail: value('MAIL_MAX_PER_EMAIL'),
        mailRequestsPerIp: value('MAIL_MAX_PER_IP'),
        mailsPerHour: value('MAIL_MAX_PER_HOUR'),
      },
      cookies: {
        defaultTransport,
        secure: cookieSecure,
        domain: value('COOKIE_DOMAIN'),
      },
      databaseTimeoutMs: value('DATABASE_TIMEOUT_MS'),
      shutdownDrainSeconds: value('SHUTDOWN_DRAIN_SECONDS'),
      eventsMaxLength: value('EVENTS_MAX_LENGTH'),
      expiredEvents: value('EXPIRED_EVENTS'),
      introspectionTokens: value('INTROSPECTION_TOKENS'),
      logLevel,
      logFormat: value('LOG_FORMAT'),
      corsOrigins,
      consoleEnabled,
      consoleHosts,
      mail,
      requireVerifiedEmail,
    },
    warnings,
  }
}

/**
 * MAIL_TRANSPORT resolved against SMTP_URL and NODE_ENV. Files hold live tokens in clear, so they
 * are for development only; production with no SMTP has no mail, and says so at start-up.
 */
function mailConfig (production: boolean, env: Env, value: <K extends SettingName>(name: K) => SettingValue<K>, warnings: string[]): MailConfig {
  const wanted = value('MAIL_TRANSPORT')
  const smtpUrl = value('SMTP_URL')
  let transport: MailConfig['transport'] = null
  if (wanted === 'smtp' && smtpUrl === null) throw new ConfigError('MAIL_TRANSPORT', 'is smtp, but SMTP_URL is not set')
  if (wanted === 'files' && production) throw new ConfigError('MAIL_TRANSPORT', 'files is for development: a mailed token is a credential, not something to leave in a folder')
  if (wanted === 'smtp' || (wanted === 'auto' && smtpUrl !== null)) {
    const params = new URL(smtpUrl!).searchParams
    // nodemailer's own logging prints whole messages: reset tokens, in the log.
    if (params.has('debug') || params.has('logger')) throw new ConfigError('SMTP_URL', 'must not set debug or logger: they write whole mails, tokens included, to the log')
    // A provider refuses mail from an address it does not send for, and every mail would be dropped.
    if (production && !env.MAIL_FROM) throw new ConfigError('MAIL_FROM', 'is required with SMTP_URL and NODE_ENV=production: an address your SMTP provider sends for, e.g. App <no-reply@example.com>')
    transport = { mode: 'smtp', url: smtpUrl! }
  } else if (wanted === 'files' || (wanted === 'auto' && !production)) {
    transport = { mode: 'files', dir: resolve(value('MAIL_DIR')) }
    warnings.push(`account mail is written to files in ${value('MAIL_DIR')} (no SMTP_URL; development only)`)
  } else {
    warnings.push(`account mail is off (${wanted === 'off' ? 'MAIL_TRANSPORT=off' : 'no SMTP_URL'}): password reset and email verification answer 404`)
  }
  const resetUrl = value('PASSWORD_RESET_URL')
  const verificationUrl = value('EMAIL_VERIFICATION_URL')
  for (const [name, link] of [['PASSWORD_RESET_URL', resetUrl], ['EMAIL_VERIFICATION_URL', verificationUrl]] as const) {
    if (production && link !== null && !link.startsWith('https://')) throw new ConfigError(name, 'must start with https:// with NODE_ENV=production')
    if (production && transport !== null && link === null) warnings.push(`${name} is not set: its mails carry only a code to type into the app, no link`)
  }
  return {
    transport,
    from: value('MAIL_FROM'),
    resetUrl,
    verificationUrl,
    resetTtlMinutes: value('PASSWORD_RESET_TTL_MINUTES'),
    verificationTtlMinutes: value('EMAIL_VERIFICATION_TTL_MINUTES'),
  }
}

/** Exactly one of REDIS_URL (the default), REDIS_CLUSTER_NODES, REDIS_SENTINELS + REDIS_SENTINEL_NAME. */
/**
 * DATABASE_URL, or outside production the embedded database. In production a missing URL stops
 * the start: the embedded database is one process's folder, which several instances cannot share.
 */
function databaseTarget (production: boolean, url: string | null, embeddedDir: string, env: Env, warnings: string[]): DatabaseTarget {
  if (url !== null) {
    if (env.EMBEDDED_DATABASE_DIR) warnings.push('EMBEDDED_DATABASE_DIR is ignored: DATABASE_URL is set')
    return { mode: 'postgres', url }
  }
  if (production) {
    throw new ConfigError('DATABASE_URL', "is required with NODE_ENV=production (the embedded database is one process's folder, not a store instances can share)")
  }
  return { mode: 'embedded', dir: resolve(embeddedDir) }
}

function redisTarget (
  env: Env,
  read: (name: SettingName) => string,
  value: <K extends SettingName>(name: K, raw?: string) => SettingValue<K>
): RedisTarget {
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
    if (clusterNodes) return { mode: 'cluster', nodes: value('REDIS_CLUSTER_NODES'), ...auth }
    const master = value('REDIS_SENTINEL_NAME')
    const sentinelPassword = read('REDIS_SENTINEL_PASSWORD')
    return { mode: 'sentinel', sentinels: value('REDIS_SENTINELS'), name: master, ...auth, ...(sentinelPassword ? { sentinelPassword } : {}) }
  }
  for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD'] as const) {
    if (read(name)) throw new ConfigError(name, 'is only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS (a single server takes its credentials in REDIS_URL)')
  }
  return { mode: 'single', url: value('REDIS_URL') }
}
