import { availableParallelism } from 'node:os'
import { ConfigError } from './config-error.js'
import { databaseTarget } from './database-target.js'
import { JWT_ALGORITHMS, jwtSecret, previousPublicKeys, previousSecrets, signingKeys } from './jwt.js'
import { mailLink, mailTransport } from './mail-transport.js'
import {
  checked, cookieDomain, credentials, defaultFrom, flag, headerName, hostNames, hostPorts, matching, oneOf, optional, origins, type Parser, text, trustProxy, url, wholeNumber,
} from './parsers.js'
import { redisTarget, sentinelName } from './redis-target.js'

/**
 * Every environment variable Gatehouse reads, written once: its default, what it takes, what it
 * means, and where its value goes in Config. loadConfig (index.ts) parses each entry with its
 * `values` and builds Config, type included, from the `config` paths; `npm run docs:config`
 * renders docs/configuration.md and .env.example from it (settings-docs.ts), and a test fails
 * when they differ.
 */
export interface Setting<T> {
  /** The heading it is listed under in docs/configuration.md and .env.example. */
  group: string
  /** Used when the variable is unset or empty; '' when there is none. */
  default: string
  /** The default as the docs show it, when it is worked out at start-up (left empty in .env.example). */
  shownDefault?: string
  /** Its parser: what start-up checks (a rule spanning variables too: `checked`), and `accepts` for the docs. */
  values: Parser<T>
  /**
   * The Config field its value fills: `'port'`, `'throttle.signupsPerIp'` (a field of a section),
   * or `'jwt.*'` (each field of the value joins the section). None: another entry's parser reads
   * it (REDIS_PASSWORD is part of the target REDIS_URL's entry resolves).
   */
  config?: string
  /** For docs/configuration.md, in Markdown; links are relative to docs/. */
  meaning: string
  /** Comment lines above it in .env.example. */
  envComment?: string
  /** Not written in .env.example (rarely set, or named in another entry's comment). */
  omitFromEnvExample?: true
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const LOG_FORMATS = ['auto', 'json', 'pretty'] as const

const DAY = 24 * 3600

/**
 * A new setting is one entry here: `values` parses and checks it, `config` names its Config field
 * (Config's type follows), the rest documents it. Then `npm run docs:config`, which
 * test/config/settings-docs.test.ts holds the docs to.
 */
export const SETTINGS = {
  NODE_ENV: {
    group: 'Server',
    default: '',
    shownDefault: '–',
    values: { accepts: '`production`, or anything else', parse: (_name, raw) => raw === 'production' },
    config: 'production',
    meaning: '`production` makes `JWT_SECRET` mandatory (with `HS256`) and `COOKIE_SECURE` true.',
    omitFromEnvExample: true,
  },
  PORT: {
    group: 'Server',
    default: '3000',
    values: wholeNumber(0, 65535),
    config: 'port',
    meaning: 'HTTP port (0 picks a free one).',
  },
  HOST: {
    group: 'Server',
    default: '127.0.0.1',
    values: text('an address or host name'),
    config: 'host',
    meaning: 'Interface to listen on; `0.0.0.0` in a container.',
  },
  TRUST_PROXY: {
    group: 'Server',
    default: 'false',
    values: trustProxy,
    config: 'trustProxy',
    meaning: 'Whose `X-Forwarded-For` to believe for the recorded `ip`: nobody, anyone (`true`: only behind a proxy that overwrites the header), that many hops, or the proxies at those addresses (e.g. `10.0.0.0/8`).',
    envComment: 'Whose X-Forwarded-For to believe: false, true, a hop count, or proxy addresses/CIDRs',
  },
  SHUTDOWN_DRAIN_SECONDS: {
    group: 'Server',
    default: '5',
    values: wholeNumber(0, 300),
    config: 'shutdownDrainSeconds',
    meaning: 'On SIGTERM, how long `/ready` answers 503 while the server still serves, before it stops accepting and finishes what is in flight.',
    envComment: 'On SIGTERM: seconds /ready answers 503 while still serving, before the server stops accepting',
  },
  LOG_LEVEL: {
    group: 'Server',
    default: 'info',
    values: oneOf(LOG_LEVELS),
    config: 'logLevel',
    meaning: 'How much is logged; tokens and passwords never are.',
  },
  LOG_FORMAT: {
    group: 'Server',
    default: 'auto',
    values: oneOf(LOG_FORMATS),
    config: 'logFormat',
    meaning: '`json`: one JSON object a line, for machines (log shippers, `jq`). `pretty`: one readable line a message (pino-pretty, a development dependency: refused at start-up where it is not installed). `auto`: `pretty` on a terminal outside production (`npm start`, `npm run dev`), `json` otherwise (`NODE_ENV=production`, a container, a pipe, a file). Every line of a run is in the one format, start-up lines included; a start-up failure is one plain line on stderr in either.',
    envComment: 'Logs: json (one object a line), pretty (readable; needs the dev dependency pino-pretty), auto (pretty on a terminal outside production)',
  },

  DATABASE_URL: {
    group: 'PostgreSQL',
    default: '',
    shownDefault: '– (embedded)',
    // The target: this URL, or (not in production) the embedded database in EMBEDDED_DATABASE_DIR.
    values: databaseTarget,
    config: 'database',
    meaning: 'PostgreSQL, e.g. `postgresql://postgres:postgres@127.0.0.1:5432/gatehouse`; the database is created if missing. Unset: an embedded PostgreSQL (PGlite) in `EMBEDDED_DATABASE_DIR`, for development only; required with `NODE_ENV=production`. See [ops.md](ops.md#which-database).',
    envComment: [
      'PostgreSQL, e.g. postgresql://postgres:postgres@127.0.0.1:5432/gatehouse (created if missing).',
      'Empty: an embedded PostgreSQL in EMBEDDED_DATABASE_DIR, for development; required in production.',
    ].join('\n'),
  },
  EMBEDDED_DATABASE_DIR: {
    group: 'PostgreSQL',
    default: '.gatehouse/db',
    values: text('a folder'),
    meaning: 'Without `DATABASE_URL` (and not in production): the folder of the embedded database, relative to the working directory. One process owns it at a time; `gatehouse` commands reach it through the running server. See [ops.md](ops.md#which-database).',
    omitFromEnvExample: true,
  },
  DATABASE_POOL_SIZE: {
    group: 'PostgreSQL',
    default: '10',
    values: wholeNumber(1, 1000),
    config: 'databasePoolSize',
    meaning: 'Most PostgreSQL connections per instance. N instances open up to N × this: keep it under `max_connections` (see [scaling.md](scaling.md#postgresql)).',
    envComment: 'Most PostgreSQL connections per instance; instances x this must stay under max_connections',
  },
  DATABASE_TIMEOUT_MS: {
    group: 'PostgreSQL',
    default: '2000',
    values: wholeNumber(100, 60_000),
    config: 'databaseTimeoutMs',
    meaning: 'Upper bound on connecting to PostgreSQL and on each query; past it the request gets 503.',
    envComment: 'Upper bound on connecting to PostgreSQL and on each query (then 503)',
  },

  REDIS_URL: {
    group: 'Redis',
    default: 'redis://127.0.0.1:6379',
    // The target: this server, or the Cluster or Sentinels below, with their credentials.
    values: redisTarget,
    config: 'redis',
    meaning: 'One Redis server (`rediss://` for TLS; credentials in the URL). Set at most one of `REDIS_URL`, `REDIS_CLUSTER_NODES`, `REDIS_SENTINELS`.',
    envComment: [
      'One Redis server (rediss:// for TLS). Instead of it (set only one; see docs/scaling.md):',
      '  Redis Cluster:  REDIS_CLUSTER_NODES=10.0.0.1:7000,10.0.0.2:7000',
      '  Sentinel:       REDIS_SENTINELS=10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379 and REDIS_SENTINEL_NAME=mymaster',
      '  with, if needed, REDIS_USERNAME, REDIS_PASSWORD, REDIS_SENTINEL_PASSWORD',
    ].join('\n'),
  },
  REDIS_CLUSTER_NODES: {
    group: 'Redis',
    default: '',
    values: hostPorts,
    meaning: 'Redis Cluster: some of its nodes (the rest are discovered). See [scaling.md](scaling.md).',
    omitFromEnvExample: true,
  },
  REDIS_SENTINELS: {
    group: 'Redis',
    default: '',
    values: hostPorts,
    meaning: 'Redis Sentinel: the Sentinels, with `REDIS_SENTINEL_NAME`. The client follows failovers on its own.',
    omitFromEnvExample: true,
  },
  REDIS_SENTINEL_NAME: {
    group: 'Redis',
    default: '',
    values: sentinelName,
    meaning: 'With `REDIS_SENTINELS`: the name of the primary they monitor.',
    omitFromEnvExample: true,
  },
  REDIS_USERNAME: {
    group: 'Redis',
    default: '',
    values: text('an ACL user'),
    meaning: 'ACL user for Cluster nodes or the Sentinel-managed primary (a single server takes it in `REDIS_URL`).',
    omitFromEnvExample: true,
  },
  REDIS_PASSWORD: {
    group: 'Redis',
    default: '',
    values: text('a password'),
    meaning: 'Password for Cluster nodes or the Sentinel-managed primary (a single server takes it in `REDIS_URL`).',
    omitFromEnvExample: true,
  },
  REDIS_SENTINEL_PASSWORD: {
    group: 'Redis',
    default: '',
    values: text('a password'),
    meaning: 'Password of the Sentinels themselves, if they have one.',
    omitFromEnvExample: true,
  },
  REDIS_WAIT_REPLICAS: {
    group: 'Redis',
    default: '0',
    values: wholeNumber(0, 10),
    config: 'redisWaitReplicas',
    meaning: 'With replicas (Sentinel, Cluster): a logout or revoke-all is answered only once this many replicas confirm it (`WAIT`, up to half of `REDIS_COMMAND_TIMEOUT_MS`), so a failover cannot bring the session back. Too few in time: still done, logged and counted (`gatehouse_revocations_unreplicated_total`). 1 is right for one replica per primary.',
    envComment: 'Replicas that must confirm a logout before it is answered (1 with replicas; see docs/scaling.md)',
  },
  REDIS_KEY_PREFIX: {
    group: 'Redis',
    default: 'gatehouse:',
    values: checked(matching(/^[A-Za-z0-9:_.\-{}]{1,64}$/, 'must be 1-64 characters of letters, digits and : _ . - { }', '1–64 letters, digits, `:` `_` `.` `-` `{` `}`'), (prefix, { value }) => {
      // Each user's keys share a hash tag, {<user_id>} (sessions/keys.ts); a brace in the prefix would
      // come first and decide the slot instead, which breaks that (or piles every key on one shard).
      if (value('REDIS_URL').mode === 'cluster' && /[{}]/.test(prefix)) {
        throw new ConfigError('REDIS_KEY_PREFIX', 'must not contain { or } with REDIS_CLUSTER_NODES: the keys carry their own hash tags')
      }
    }),
    config: 'redisKeyPrefix',
    meaning: 'Prepended to every key (`<prefix>sess:{<user_id>}:<id>`), so deployments can share a Redis. No `{` or `}` with a Cluster: the keys carry their own hash tags.',
  },
  REDIS_COMMAND_TIMEOUT_MS: {
    group: 'Redis',
    default: '1000',
    values: wholeNumber(50, 60_000),
    config: 'redisCommandTimeoutMs',
    meaning: 'A Redis command slower than this fails the request with 503 instead of hanging it.',
  },

  // Each secret or key may come from a file instead (NAME_FILE, read by NAME's parser); JWT_PRIVATE_KEY's
  // entry picks what signs for JWT_ALGORITHM (jwt.ts).
  JWT_SECRET: {
    group: 'Signing keys',
    default: '',
    shownDefault: '–',
    values: jwtSecret,
    meaning: 'With `JWT_ALGORITHM=HS256`: the shared secret tokens are signed with (`openssl rand -base64 48`); required then with `NODE_ENV=production`, and otherwise generated into the git-ignored `.gatehouse-dev-secret` when unset. With `EdDSA` or `RS256` (a deployment moving from HS256) it only verifies the tokens it signed, until their `exp`, with a warning: move it to `JWT_PREVIOUS_SECRETS` ([ops.md](ops.md#moving-from-hs256-to-eddsa)). Whoever holds it can sign a token for any session: never give it to another service. Rotate it with `JWT_PREVIOUS_SECRETS`, never by just replacing it (that ends every session).',
    envComment: [
      'Only with JWT_ALGORITHM=HS256 (at least 32 bytes; openssl rand -base64 48). Whoever holds it can',
      'sign tokens: never give it to another service. Or JWT_SECRET_FILE=/run/secrets/jwt; not both.',
    ].join('\n'),
  },
  JWT_SECRET_FILE: {
    group: 'Signing keys',
    default: '',
    shownDefault: '–',
    values: text('a file path'),
    meaning: 'Instead of `JWT_SECRET`: a file holding it (a Docker or Kubernetes secret; a trailing newline is ignored). Set one or the other.',
    omitFromEnvExample: true,
  },
  JWT_PREVIOUS_SECRETS: {
    group: 'Signing keys',
    default: '',
    values: previousSecrets,
    meaning: 'Old HS256 secrets: tokens they signed still verify; nothing new is signed with them.',
    envComment: 'Old secrets that still verify during a rotation or the move to EdDSA (comma-separated); see docs/ops.md',
  },
  JWT_PREVIOUS_SECRETS_FILE: {
    group: 'Signing keys',
    default: '',
    shownDefault: '–',
    values: text('a file path'),
    meaning: 'Instead of `JWT_PREVIOUS_SECRETS`: a file holding them, one per line (or comma-separated). Set one or the other.',
    omitFromEnvExample: true,
  },
  JWT_ALGORITHM: {
    group: 'Signing keys',
    default: 'EdDSA',
    values: oneOf(JWT_ALGORITHMS),
    config: 'jwt.algorithm',
    meaning: '`EdDSA` (Ed25519, the default) or `RS256` (RSA ≥ 2048 bits) sign with `JWT_PRIVATE_KEY`, and other services verify tokens with the public keys from `/.well-known/jwks.json`, holding nothing that signs. `HS256` signs with the shared `JWT_SECRET`: only for a deployment with no other service reading its sessions, since whoever can verify an HS256 token can also sign one.',
    envComment: [
      'EdDSA (default) or RS256 sign with JWT_PRIVATE_KEY_FILE (or JWT_PRIVATE_KEY) and publish the public key',
      'at /.well-known/jwks.json. HS256 signs with JWT_SECRET: only with no other service reading sessions.',
    ].join('\n'),
  },
  JWT_PRIVATE_KEY: {
    group: 'Signing keys',
    default: '',
    shownDefault: '–',
    values: signingKeys,
    config: 'jwt.*',
    meaning: 'The signing key of `EdDSA` (the default) or `RS256`: an Ed25519 (`openssl genpkey -algorithm ed25519`) or RSA (at least 2048-bit) private key as PEM; a literal `\\n` is read as a newline. Required with `NODE_ENV=production`; outside production, an Ed25519 key is generated once into the git-ignored `.gatehouse/jwt-ed25519.pem` when unset (with a warning), so restarts keep sessions valid.',
    omitFromEnvExample: true,
  },
  JWT_PRIVATE_KEY_FILE: {
    group: 'Signing keys',
    default: '',
    shownDefault: '–',
    values: text('a file path'),
    meaning: 'Instead of `JWT_PRIVATE_KEY`: a file holding it (a Docker or Kubernetes secret). Set one or the other.',
    envComment: 'Required when NODE_ENV=production (openssl genpkey -algorithm ed25519 > jwt.pem). Left empty outside\nproduction, a development key is generated into .gatehouse/jwt-ed25519.pem.',
  },
  JWT_PREVIOUS_PUBLIC_KEYS: {
    group: 'Signing keys',
    default: '',
    values: previousPublicKeys,
    config: 'jwt.previousPublicKeys',
    meaning: 'Old public keys, Ed25519 or RSA (a private key is reduced to its public half): their tokens still verify and they stay in the JWKS.',
    omitFromEnvExample: true,
  },
  JWT_PREVIOUS_PUBLIC_KEYS_FILE: {
    group: 'Signing keys',
    default: '',
    values: text('a file path'),
    meaning: 'Instead of `JWT_PREVIOUS_PUBLIC_KEYS`: a file holding them. Set one or the other.',
  },
  JWT_ISSUER: {
    group: 'Signing keys',
    default: 'gatehouse',
    values: matching(/^[\x21-\x7e]{1,256}$/, 'must be 1-256 printable ASCII characters without spaces', '1–256 printable ASCII characters, e.g. `https://auth.example.com`'),
    config: 'jwt.issuer',
    meaning: 'The `iss` claim of every token, and the only issuer accepted (tokens from before tokens named one are accepted until their `exp`). Other services check it too ([session-contract.md](session-contract.md#token)). Changing it ends every session: set it once, before going live.',
    envComment: 'The iss claim of every token; other services check it. Changing it ends every session.',
  },
  JWT_ACCEPT_UNTYPED: {
    group: 'Signing keys',
    default: 'true',
    values: flag,
    config: 'jwt.acceptUntyped',
    meaning: 'Accept tokens issued before tokens were typed and named their issuer (`typ` `JWT`, no `iss`), so that the upgrade logged no one out, but only within a window that closes by itself: the first start of this release records `untyped_tokens_until` (that start + `SESSION_MAX_AGE_SECONDS`) in `<prefix>config`, and Gatehouse and every reader refuse such tokens after it. `false` closes the window at once, for Gatehouse and, through that field, every reader.',
    omitFromEnvExample: true,
  },
  JWT_VERIFIED_CACHE_SIZE: {
    group: 'Signing keys',
    default: '10000',
    values: wholeNumber(0, 1_000_000),
    config: 'jwt.verifiedCacheSize',
    meaning: 'How many verified tokens each instance remembers (about 0.5 KB each), so that a token seen before skips its signature check (`exp` is still checked, and the session in Redis on every request). An Ed25519 verify costs some 15 HMACs: size it to the sessions an instance sees within a few minutes ([performance.md](performance.md#the-default-eddsa-and-the-verified-token-cache)). 0 turns it off.',
    omitFromEnvExample: true,
  },
  JWT_AUD_HEADER: {
    group: 'Signing keys',
    default: 'JWT-Aud',
    values: headerName,
    config: 'jwt.audienceHeader',
    meaning: 'A client that sends this header at login (`JWT-Aud: ios-app`) gets a token bound to that audience (`aud`); every request with the token must then send the same header, at Gatehouse and at services using the session reader. Without it at login, tokens are unbound. The name is devise-jwt\'s `JWT_AUD` as HTTP carries it (underscores are dropped by many proxies).',
    omitFromEnvExample: true,
  },

  SESSION_TTL_SECONDS: {
    group: 'Sessions',
    default: '1200',
    values: checked(wholeNumber(1, 365 * DAY), (ttl, { value }) => {
      const maxAge = value('SESSION_MAX_AGE_SECONDS')
      if (ttl > maxAge) throw new ConfigError('SESSION_TTL_SECONDS', `(${ttl}) must not exceed SESSION_MAX_AGE_SECONDS (${maxAge})`)
    }),
    config: 'sessionTtlSeconds',
    meaning: 'Sliding window: a session unused this long ends. Each authenticated request restarts it. Only the **default**: ops can change the TTL in force while it runs (`gatehouse ttl set 15m`), and that wins (see [ops.md](ops.md#changing-the-session-ttl)).',
    envComment: [
      'The default sliding TTL. The TTL in force can be changed at run time (gatehouse ttl set 15m, or',
      'PUT /admin/settings/session-ttl); it is kept in Redis and overrides this. See docs/ops.md.',
    ].join('\n'),
  },
  SESSION_MAX_AGE_SECONDS: {
    group: 'Sessions',
    default: String(30 * DAY),
    values: wholeNumber(1, 10 * 365 * DAY),
    config: 'sessionMaxAgeSeconds',
    meaning: 'Absolute lifetime, however active; also the token\'s `exp`. Must be ≥ the TTL.',
  },
  SESSION_MAX_PER_USER: {
    group: 'Sessions',
    default: '100',
    values: wholeNumber(0, 10_000),
    config: 'sessionMaxPerUser',
    meaning: 'Most live sessions per user; `0` for no limit. A login beyond it ends the user\'s least recently used session, in the same atomic step. Why 100: [ops.md](ops.md#limiting-sessions-per-user).',
    envComment: 'Most live sessions per user; a login beyond it ends the least recently used (0: no limit)',
  },
  EVENTS_MAX_LENGTH: {
    group: 'Sessions',
    default: '100000',
    values: wholeNumber(1000, 100_000_000),
    config: 'eventsMaxLength',
    meaning: 'Approximate cap on the `<prefix>events` stream (`XADD MAXLEN ~`).',
    envComment: 'Approximate cap on the <prefix>events stream',
  },
  EXPIRED_EVENTS: {
    group: 'Sessions',
    default: 'configure',
    values: oneOf(['configure', 'listen', 'off'] as const),
    config: 'expiredEvents',
    meaning: '`expired` events from Redis keyspace notifications: `configure` (listen, and add `Ex` to Redis\' `notify-keyspace-events` if missing), `listen` (ops set it, e.g. on managed Redis), `off`.',
    envComment: 'expired events from Redis keyspace notifications: configure (turn them on if needed), listen, off',
  },

  BCRYPT_COST: {
    group: 'Passwords and brute-force limits',
    default: '12',
    values: wholeNumber(10, 15),
    config: 'bcryptCost',
    meaning: 'bcrypt work factor for new password hashes. Hashes of a lower cost are re-made at this cost at the user\'s next successful login.',
    envComment: 'bcrypt work factor (10-15); lower-cost hashes are re-made at this cost at the next login',
  },
  BCRYPT_THREADS: {
    group: 'Passwords and brute-force limits',
    default: String(availableParallelism()),
    shownDefault: 'number of cores',
    values: wholeNumber(1, 64),
    config: 'bcryptThreads',
    meaning: 'Worker threads that run bcrypt, off the event loop.',
    envComment: [
      'bcrypt worker threads (default: one per core) and how many checks may wait for one before',
      'logins get 503 at once (default: 16 per thread)',
    ].join('\n'),
  },
  BCRYPT_MAX_QUEUE: {
    group: 'Passwords and brute-force limits',
    // About 16 hashes' worth of waiting per thread (some 5 s at cost 12 here), then 503.
    default: '',
    shownDefault: '16 × `BCRYPT_THREADS`',
    values: defaultFrom(wholeNumber(1, 100_000), ({ value }): string => String(16 * value('BCRYPT_THREADS'))),
    config: 'bcryptMaxQueue',
    meaning: 'Password checks that may wait for a thread; beyond it logins and sign-ups get 503 with `Retry-After` at once.',
  },
  BCRYPT_DEADLINE_MS: {
    group: 'Passwords and brute-force limits',
    default: '5000',
    values: wholeNumber(500, 60_000),
    config: 'bcryptDeadlineMs',
    meaning: 'A password check (login, sign-up, password change) not finished this long after it was asked for is abandoned and answered 503 with `Retry-After`: under any load the check ends within this time, never in a client timeout. Must be longer than one bcrypt hash at `BCRYPT_COST` on the machine (checked at start).',
    envComment: [
      'A password check not finished in this many ms is answered 503 (never a client timeout); the',
      'bcrypt threads\' nice value: their share of a core the event loop also wants (docs/performance.md)',
    ].join('\n'),
  },
  BCRYPT_NICE: {
    group: 'Passwords and brute-force limits',
    default: '10',
    values: wholeNumber(0, 19),
    config: 'bcryptNice',
    meaning: 'The bcrypt threads\' CPU priority (Linux nice value, per thread). When the event loop wants the same core, a thread at nice 10 gets about a tenth of it, at 0 half, at 19 almost nothing; when the core is free, all of it. docs/performance.md, "Logins under load".',
  },
  LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: {
    group: 'Passwords and brute-force limits',
    default: '10',
    values: wholeNumber(1, 1_000_000),
    config: 'throttle.loginFailuresPerAccountNetwork',
    meaning: 'Failed password checks per account (normalised email) from one client network (IPv4 /24, IPv6 /64) per window; then 429 from that network.',
    envComment: [
      'Brute-force limits, shared through Redis: failed password checks per account from one client',
      'network (IPv4 /24, IPv6 /64), per account from all networks, and per client address in each',
      'window, then 429; sign-up attempts per address per sign-up window',
    ].join('\n'),
  },
  LOGIN_MAX_FAILURES_PER_ACCOUNT: {
    group: 'Passwords and brute-force limits',
    default: '100',
    values: wholeNumber(1, 1_000_000),
    config: 'throttle.loginFailuresPerAccount',
    meaning: 'Failed password checks per account from all networks together per window; then 429 from every network the account has not logged in from lately.',
  },
  LOGIN_MAX_FAILURES_PER_IP: {
    group: 'Passwords and brute-force limits',
    default: '100',
    values: wholeNumber(1, 1_000_000),
    config: 'throttle.loginFailuresPerIp',
    meaning: 'Failed password checks per client address (IPv6: per /64) per window; then 429.',
  },
  LOGIN_FAILURE_WINDOW_SECONDS: {
    group: 'Passwords and brute-force limits',
    default: '900',
    values: wholeNumber(1, 7 * DAY),
    config: 'throttle.loginWindowSeconds',
    meaning: 'The window of the three login limits.',
  },
  SIGNUP_MAX_PER_IP: {
    group: 'Passwords and brute-force limits',
    default: '20',
    values: wholeNumber(1, 1_000_000),
    config: 'throttle.signupsPerIp',
    meaning: 'Sign-up attempts per client address per `SIGNUP_WINDOW_SECONDS`.',
  },
  SIGNUP_WINDOW_SECONDS: {
    group: 'Passwords and brute-force limits',
    default: '3600',
    values: wholeNumber(1, 7 * DAY),
    config: 'throttle.signupWindowSeconds',
    meaning: 'The sign-up window.',
  },

  INTROSPECTION_TOKENS: {
    group: 'Other services and browsers',
    default: '',
    shownDefault: 'empty (endpoint off)',
    values: credentials,
    config: 'introspectionTokens',
    meaning: 'Credentials other services send to `POST /introspect` as `Authorization: Bearer <credential>` (`openssl rand -base64 32`).',
    envComment: [
      'Service credentials for POST /introspect, comma-separated, each at least 32 characters',
      '(openssl rand -base64 32). Empty: the endpoint is off.',
    ].join('\n'),
  },
  CORS_ORIGINS: {
    group: 'Other services and browsers',
    default: '',
    shownDefault: 'empty (CORS off)',
    values: origins,
    config: 'corsOrigins',
    meaning: 'Browser origins allowed to call the API (with credentials), e.g. `https://app.example.com`; also the origins whose pages may use the session cookie.',
    envComment: [
      'Comma-separated browser origins allowed by CORS (with credentials), e.g. https://app.example.com',
      '(empty: CORS off); also the origins whose pages may use the session cookie',
    ].join('\n'),
  },
  SESSION_TRANSPORT: {
    group: 'Other services and browsers',
    default: 'header',
    values: checked(oneOf(['header', 'cookie'] as const), (transport, { value }) => {
      if (transport === 'cookie' && value('CORS_ORIGINS').length === 0) {
        throw new ConfigError('SESSION_TRANSPORT', 'cookie needs CORS_ORIGINS: the web app origins whose pages may use the cookie')
      }
    }),
    config: 'cookies.defaultTransport',
    meaning: 'What `POST /sessions` does when the body names no `transport`: `header` (the token in the answer) or `cookie` (needs `CORS_ORIGINS`).',
    envComment: [
      'What a login without "transport" gets: header (the token in the answer) or cookie (for web apps;',
      'needs CORS_ORIGINS)',
    ].join('\n'),
  },
  COOKIE_DOMAIN: {
    group: 'Other services and browsers',
    default: '',
    shownDefault: 'empty (host-only cookies)',
    values: optional(cookieDomain),
    config: 'cookies.domain',
    meaning: 'Scope the session cookies to this domain and its subdomains (`example.com`: sent to `app.example.com`, `chat.example.com`...; a domain you control, never a public suffix such as `co.uk` or `github.io`, for which browsers drop the cookies), named `__Secure-gatehouse_session`/`__Secure-gatehouse_csrf`. Empty: host-only `__Host-` cookies, which no sibling subdomain can plant or read. Read [security.md](security.md#cookies-shared-across-subdomains) first.',
    envComment: [
      'Share the session cookie with sibling subdomains (example.com); empty keeps host-only __Host- cookies.',
      'See docs/security.md, "Cookies shared across subdomains", before setting it.',
    ].join('\n'),
  },
  COOKIE_SECURE: {
    group: 'Other services and browsers',
    default: 'true',
    values: checked(flag, (secure, { value }) => {
      // Browsers see https at the proxy even where TLS ends before Gatehouse: a production cookie is always Secure.
      if (value('NODE_ENV') && !secure) throw new ConfigError('COOKIE_SECURE', 'must be true with NODE_ENV=production')
    }),
    config: 'cookies.secure',
    meaning: '`Secure` cookies with `__Host-` names. `false` only for local development over plain http (refused with `NODE_ENV=production`).',
    envComment: 'Secure __Host- cookies; false only for local development over plain http (refused in production)',
  },
  CONSOLE_ENABLED: {
    group: 'Other services and browsers',
    default: 'true',
    values: flag,
    config: 'consoleEnabled',
    meaning: 'Serve the ops console at `/console` (admins only; [console.md](console.md)). `false`: `/console` is a 404; the admin API it uses stays.',
    envComment: 'The ops console at /console (admins only); false: not served (the admin API stays)',
  },
  CONSOLE_HOSTS: {
    group: 'Other services and browsers',
    default: '',
    shownDefault: 'empty (any host)',
    values: checked(hostNames, (hosts, { value, warn }, _name, raw) => {
      // A value of only commas is a list someone meant to fill: "every host" must be said by leaving it empty.
      if (hosts.length === 0 && raw.trim() !== '') {
        throw new ConfigError('CONSOLE_HOSTS', 'names no host: list the console\'s host names (ops.example.com), or leave it empty for any host')
      }
      if (value('NODE_ENV') && value('CONSOLE_ENABLED') && hosts.length === 0) {
        warn('CONSOLE_HOSTS is empty: the console trusts any Host name as its own origin (a DNS-rebinding page included); set it to the console\'s host names (docs/console.md#where-to-serve-it)')
      }
    }),
    config: 'consoleHosts',
    meaning: 'The host names the console is served at, each with its port unless it is the default one (`gatehouse-ops.example.com`, `localhost:3000`; behind a proxy, as it forwards them in `X-Forwarded-Host`). Only a request to one of them may use the session cookie from its own origin without that origin being in `CORS_ORIGINS`, and only there are `/console` and its files served (elsewhere 404). Set it in production: otherwise any name that resolves to Gatehouse counts as the console\'s origin, a DNS-rebinding page\'s included ([console.md](console.md#where-to-serve-it)).',
    envComment: [
      'Host names the console is served at (e.g. gatehouse-ops.example.com); set it in production. Empty: any',
      'host, so a DNS-rebinding page counts as the console\'s own origin (docs/console.md)',
    ].join('\n'),
  },

  MAIL_TRANSPORT: {
    group: 'Mail and accounts',
    default: 'auto',
    // How mail goes out, if at all: through SMTP_URL, or into files in MAIL_DIR.
    values: mailTransport,
    config: 'mail.transport',
    meaning: 'How the account mails (password reset, email verification) go out. `auto`: through `SMTP_URL` when it is set; otherwise, outside production, into files in `MAIL_DIR` (and a log line); in production, nowhere, and the routes that need mail answer 404. `off`: no mail, those routes 404. `files` is refused in production: a mailed token is a credential.',
    envComment: 'auto: SMTP_URL if set; else files in MAIL_DIR (development) or no mail and no reset routes (production). Or smtp, files, off',
  },
  SMTP_URL: {
    group: 'Mail and accounts',
    default: '',
    values: optional(url(['smtp:', 'smtps:'])),
    meaning: 'The SMTP server, e.g. `smtps://user:password@smtp.example.com:465` or `smtp://127.0.0.1:25` (STARTTLS when the server offers it). Credentials in the URL; sent with [nodemailer](https://nodemailer.com).',
    envComment: 'SMTP server for account mail: smtps://user:password@smtp.example.com:465 (empty: see MAIL_TRANSPORT)',
  },
  MAIL_FROM: {
    group: 'Mail and accounts',
    default: 'Gatehouse <no-reply@localhost>',
    values: matching(/^(?:[^<>",\p{Cc}]{0,100} <[^<>\s,@\p{Cc}]{1,64}@[^<>\s,@\p{Cc}]{1,190}>|[^<>\s,@\p{Cc}]{1,64}@[^<>\s,@\p{Cc}]{1,190})$/u, 'must be one address, e.g. App <no-reply@example.com>', 'one address, e.g. `App <no-reply@example.com>`'),
    config: 'mail.from',
    meaning: 'The From of account mail: an address your SMTP provider sends for (required with `SMTP_URL` in production).',
  },
  MAIL_DIR: {
    group: 'Mail and accounts',
    default: '.gatehouse/mail',
    values: text('a folder'),
    meaning: 'Development without SMTP: where each mail is written, one `.eml` file per mail (git-ignored; open it in a mail client or read the `Code:` line).',
    omitFromEnvExample: true,
  },
  PASSWORD_RESET_URL: {
    group: 'Mail and accounts',
    default: '',
    values: mailLink,
    config: 'mail.resetUrl',
    meaning: 'The link in a password-reset mail, `{token}` replaced by the token: e.g. `https://app.example.com/reset?token={token}`, a universal link the app opens ([mobile.md](mobile.md#links-in-mails)). Empty: the mail carries only the code, to type into the app.',
    envComment: 'Link in reset mails, e.g. https://app.example.com/reset?token={token} (empty: the code only)',
  },
  EMAIL_VERIFICATION_URL: {
    group: 'Mail and accounts',
    default: '',
    values: mailLink,
    config: 'mail.verificationUrl',
    meaning: 'The link in a verification mail, as `PASSWORD_RESET_URL`.',
    envComment: 'Link in verification mails, e.g. https://app.example.com/verify?token={token}',
  },
  PASSWORD_RESET_TTL_MINUTES: {
    group: 'Mail and accounts',
    default: '30',
    values: wholeNumber(5, 24 * 60),
    config: 'mail.resetTtlMinutes',
    meaning: 'How long a password-reset token is good for.',
  },
  EMAIL_VERIFICATION_TTL_MINUTES: {
    group: 'Mail and accounts',
    default: '1440',
    values: wholeNumber(5, 7 * 24 * 60),
    config: 'mail.verificationTtlMinutes',
    meaning: 'How long an email-verification token is good for (it proves only that the mailbox is the user\'s, so it may live longer than a reset\'s).',
  },
  REQUIRE_VERIFIED_EMAIL: {
    group: 'Mail and accounts',
    default: 'false',
    values: checked(flag, (required, { value }) => {
      // Nobody could confirm an email, so nobody who signs up could ever log in.
      if (required && value('MAIL_TRANSPORT') === null) throw new ConfigError('REQUIRE_VERIFIED_EMAIL', 'needs account mail (SMTP_URL): with no mail, no new user could ever confirm an email')
    }),
    config: 'requireVerifiedEmail',
    meaning: '`true`: a login with the right password but an unconfirmed email gets 403 `email_unverified` and no session, and a sign-up with `sign_in` answers the account without a session. A password reset confirms the email too (the mail reached its owner). Sessions that exist stay. Needs account mail.',
  },
  MAIL_MAX_PER_EMAIL: {
    group: 'Mail and accounts',
    default: '5',
    values: wholeNumber(1, 1000),
    config: 'throttle.mailRequestsPerEmail',
    meaning: 'Per email address and hour, both kinds together: the requests one client network may make for it (past it, 429, whether or not the address has an account), and the mails its inbox gets from all networks together (past it, requests still get their 202 but no mail; requests from a network the account logged in from lately are not counted, so strangers cannot use it up for the owner).',
  },
  MAIL_MAX_PER_IP: {
    group: 'Mail and accounts',
    default: '20',
    values: wholeNumber(1, 100_000),
    config: 'throttle.mailRequestsPerIp',
    meaning: 'Reset and verification requests per client address (an IPv6 /64) per hour; past it, 429.',
  },
  MAIL_MAX_PER_HOUR: {
    group: 'Mail and accounts',
    default: '1000',
    values: wholeNumber(1, 10_000_000),
    config: 'throttle.mailsPerHour',
    meaning: 'Account mails of each kind (password reset, email verification) that all instances send per hour; past it, requests still get their usual answer but mails are dropped (logged, and counted in `gatehouse_mail_total{outcome="dropped",reason="budget"}`), so a flood cannot run up the mail bill or the sender\'s reputation, and sign-ups cannot use up the resets\' budget.',
  },
} as const satisfies Record<string, Setting<unknown>>

export type SettingName = keyof typeof SETTINGS
export type SettingValue<K extends SettingName> = ReturnType<(typeof SETTINGS)[K]['values']['parse']>
