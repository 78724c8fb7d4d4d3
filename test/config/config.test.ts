import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import { ConfigError, formatHostPorts, loadConfig } from '../../src/config/index.js'
import { withDotEnv } from '../../src/config/dotenv.js'

const SECRET = 'x'.repeat(32)
const pem = (key: KeyObject, type: 'pkcs8' | 'spki') => key.export({ format: 'pem', type }).toString()
const ed25519 = generateKeyPairSync('ed25519')
const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 })
const ED25519_PRIVATE = pem(ed25519.privateKey, 'pkcs8')
const ED25519_PUBLIC = pem(ed25519.publicKey, 'spki')
const RSA_1024_PRIVATE = pem(rsa1024.privateKey, 'pkcs8')
const RSA_1024_PUBLIC = pem(rsa1024.publicKey, 'spki')

t.test('Redis Cluster or Sentinel instead of REDIS_URL, with credentials', async (t) => {
  t.same(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, REDIS_CLUSTER_NODES: ' 10.0.0.1:7000, redis-b.internal:7001,[::1]:7002 ', REDIS_PASSWORD: 'pw' }).config.redis, {
    mode: 'cluster',
    nodes: [{ host: '10.0.0.1', port: 7000 }, { host: 'redis-b.internal', port: 7001 }, { host: '::1', port: 7002 }],
    password: 'pw',
  })
  t.same(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'mymaster', REDIS_USERNAME: 'gh', REDIS_PASSWORD: 'pw', REDIS_SENTINEL_PASSWORD: 'spw' }).config.redis, {
    mode: 'sentinel',
    sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }],
    name: 'mymaster',
    username: 'gh',
    password: 'pw',
    sentinelPassword: 'spw',
  })
  t.same(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, REDIS_URL: 'rediss://u:p@redis.example:6380' }).config.redis, { mode: 'single', url: 'rediss://u:p@redis.example:6380' })
  t.equal(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, REDIS_KEY_PREFIX: 'app{1}:' }).config.redisKeyPrefix, 'app{1}:', 'braces stay allowed off a Cluster')
  t.equal(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, DATABASE_POOL_SIZE: '25' }).config.databasePoolSize, 25)
  const pgUrl = 'postgresql://gh:pw@db.example:5432/gatehouse'
  t.same(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, DATABASE_URL: pgUrl }).config.database, { mode: 'postgres', url: pgUrl })
  t.same(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, NODE_ENV: 'production', DATABASE_URL: pgUrl }).config.database, { mode: 'postgres', url: pgUrl }, 'production takes a URL')
  t.same(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, EMBEDDED_DATABASE_DIR: 'var/db' }).config.database, { mode: 'embedded', dir: resolve('var/db') }, 'a relative folder is made absolute once, at start-up')
  t.match(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, DATABASE_URL: pgUrl, EMBEDDED_DATABASE_DIR: 'var/db' }).warnings, [/EMBEDDED_DATABASE_DIR is ignored: DATABASE_URL is set/])
  const cluster = loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, REDIS_CLUSTER_NODES: '10.0.0.1:7000,[::1]:7002' }).config.redis
  t.equal(cluster.mode === 'cluster' && formatHostPorts(cluster.nodes), '10.0.0.1:7000,[::1]:7002', 'written back as it is read')
})

t.test('defaults give a working local setup', async (t) => {
  const { config } = loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE })
  t.match(config, {
    production: false,
    port: 3000,
    host: '127.0.0.1',
    database: { mode: 'embedded', dir: resolve('.gatehouse/db') },
    redis: { mode: 'single', url: 'redis://127.0.0.1:6379' },
    redisKeyPrefix: 'gatehouse:',
    databasePoolSize: 10,
    sessionTtlSeconds: 1200,
    sessionMaxAgeSeconds: 30 * 24 * 3600,
    bcryptCost: 12,
    bcryptMaxQueue: 16 * config.bcryptThreads,
    throttle: { loginFailuresPerAccountNetwork: 10, loginFailuresPerAccount: 100, loginFailuresPerIp: 100, loginWindowSeconds: 900, signupsPerIp: 20, signupWindowSeconds: 3600 },
    cookies: { defaultTransport: 'header', secure: true, domain: null },
    databaseTimeoutMs: 2000,
    shutdownDrainSeconds: 5,
    logLevel: 'info',
    corsOrigins: [],
    consoleHosts: [],
    sessionMaxPerUser: 100,
    trustProxy: false,
    eventsMaxLength: 100_000,
    expiredEvents: 'configure',
    introspectionTokens: [],
    jwt: { algorithm: 'EdDSA', signingKey: ED25519_PRIVATE, previousSecrets: [], previousPublicKeys: [], issuer: 'gatehouse', audienceHeader: 'jwt-aud', acceptUntyped: true, verifiedCacheSize: 10_000 },
  })
  t.equal(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, COOKIE_DOMAIN: '.Example.COM' }).config.cookies.domain, 'example.com', 'COOKIE_DOMAIN: lower case, without the leading dot')
  t.equal(config.bcryptThreads, availableParallelism(), 'one bcrypt thread per core')
})

t.test('a bad value is one clear error naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET', /at least 32 bytes \(got 5\)/],
    [{ PORT: 'eighty' }, 'PORT', /whole number/],
    [{ PORT: '70000' }, 'PORT', /between 0 and 65535/],
    [{ SESSION_TTL_SECONDS: '0' }, 'SESSION_TTL_SECONDS', /between 1 and/],
    [{ SESSION_TTL_SECONDS: '-5' }, 'SESSION_TTL_SECONDS', /whole number/],
    [{ SESSION_TTL_SECONDS: '1.5' }, 'SESSION_TTL_SECONDS', /whole number/],
    [{ SESSION_TTL_SECONDS: '100', SESSION_MAX_AGE_SECONDS: '50' }, 'SESSION_TTL_SECONDS', /must not exceed SESSION_MAX_AGE_SECONDS/],
    [{ BCRYPT_COST: '40' }, 'BCRYPT_COST', /between 10 and 15/],
    [{ BCRYPT_COST: '4' }, 'BCRYPT_COST', /between 10 and 15 \(got 4\)/],
    [{ BCRYPT_THREADS: '0' }, 'BCRYPT_THREADS', /between 1 and 64/],
    [{ BCRYPT_MAX_QUEUE: '0' }, 'BCRYPT_MAX_QUEUE', /between 1 and/],
    [{ BCRYPT_DEADLINE_MS: '100' }, 'BCRYPT_DEADLINE_MS', /between 500 and 60000 \(got 100\)/],
    [{ BCRYPT_DEADLINE_MS: '5s' }, 'BCRYPT_DEADLINE_MS', /whole number/],
    [{ BCRYPT_NICE: '20' }, 'BCRYPT_NICE', /between 0 and 19/],
    [{ BCRYPT_NICE: '-5' }, 'BCRYPT_NICE', /whole number/],
    [{ LOGIN_MAX_FAILURES_PER_ACCOUNT: '0' }, 'LOGIN_MAX_FAILURES_PER_ACCOUNT', /between 1 and/],
    [{ LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: '0' }, 'LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK', /between 1 and/],
    [{ LOGIN_MAX_FAILURES_PER_IP: 'many' }, 'LOGIN_MAX_FAILURES_PER_IP', /whole number/],
    [{ LOGIN_FAILURE_WINDOW_SECONDS: '0' }, 'LOGIN_FAILURE_WINDOW_SECONDS', /between 1 and/],
    [{ SIGNUP_MAX_PER_IP: '-3' }, 'SIGNUP_MAX_PER_IP', /whole number/],
    [{ SIGNUP_WINDOW_SECONDS: '1e3' }, 'SIGNUP_WINDOW_SECONDS', /whole number/],
    [{ SESSION_TRANSPORT: 'both' }, 'SESSION_TRANSPORT', /one of header, cookie/],
    [{ SESSION_TRANSPORT: 'cookie' }, 'SESSION_TRANSPORT', /needs CORS_ORIGINS/],
    [{ COOKIE_SECURE: 'no' }, 'COOKIE_SECURE', /one of true, false/],
    [{ NODE_ENV: 'production', DATABASE_URL: 'postgresql://db.example/gh', COOKIE_SECURE: 'false' }, 'COOKIE_SECURE', /must be true with NODE_ENV=production/],
    [{ DATABASE_TIMEOUT_MS: '10' }, 'DATABASE_TIMEOUT_MS', /between 100 and/],
    [{ SHUTDOWN_DRAIN_SECONDS: '1000' }, 'SHUTDOWN_DRAIN_SECONDS', /between 0 and 300/],
    [{ DATABASE_URL: 'mysql://x@y/z' }, 'DATABASE_URL', /postgres/],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL', /must be a URL/],
    [{ NODE_ENV: 'production' }, 'DATABASE_URL', /is required with NODE_ENV=production \(the embedded database is one process's folder/],
    [{ NODE_ENV: 'production', EMBEDDED_DATABASE_DIR: '/var/lib/gatehouse' }, 'DATABASE_URL', /is required with NODE_ENV=production/],
    [{ REDIS_URL: 'http://localhost' }, 'REDIS_URL', /redis:\/\//],
    [{ REDIS_KEY_PREFIX: 'has space' }, 'REDIS_KEY_PREFIX', /letters, digits/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /one of/],
    [{ CORS_ORIGINS: '*' }, 'CORS_ORIGINS', /explicitly/],
    [{ CORS_ORIGINS: 'https://a.example/path' }, 'CORS_ORIGINS', /bare origins/],
    [{ SESSION_MAX_PER_USER: '-1' }, 'SESSION_MAX_PER_USER', /whole number/],
    [{ SESSION_MAX_PER_USER: '100000' }, 'SESSION_MAX_PER_USER', /between 0 and 10000/],
    [{ TRUST_PROXY: 'yes' }, 'TRUST_PROXY', /proxy addresses/],
    [{ TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY', /got "10.0.0.0\/33"/],
    [{ TRUST_PROXY: ' , ' }, 'TRUST_PROXY', /proxy addresses/],
    [{ JWT_ALGORITHM: 'HS512' }, 'JWT_ALGORITHM', /one of HS256, EdDSA, RS256/],
    [{ JWT_ALGORITHM: 'none' }, 'JWT_ALGORITHM', /one of/],
    [{ JWT_PREVIOUS_SECRETS: `${'y'.repeat(32)},short` }, 'JWT_PREVIOUS_SECRETS', /at least 32 bytes \(got 5\)/],
    [{ JWT_ALGORITHM: 'RS256', JWT_PRIVATE_KEY: '' }, 'JWT_PRIVATE_KEY', /is required when JWT_ALGORITHM=RS256: set it, or JWT_PRIVATE_KEY_FILE, to an RSA key/],
    [{ JWT_ALGORITHM: 'HS256', JWT_SECRET: 'short' }, 'JWT_SECRET', /at least 32 bytes \(got 5\)/],
    [{ JWT_PREVIOUS_SECRETS: 'a'.repeat(32), JWT_PREVIOUS_SECRETS_FILE: '/x' }, 'JWT_PREVIOUS_SECRETS', /both set/],
    [{ JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: 'not a pem' }, 'JWT_PRIVATE_KEY', /holds no PEM block/],
    [{ JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: ED25519_PUBLIC }, 'JWT_PRIVATE_KEY', /not a PEM private key/],
    [{ JWT_ALGORITHM: 'RS256', JWT_PRIVATE_KEY: ED25519_PRIVATE }, 'JWT_PRIVATE_KEY', /must be an RSA \(at least 2048-bit\) key/],
    [{ JWT_ALGORITHM: 'RS256', JWT_PRIVATE_KEY: RSA_1024_PRIVATE }, 'JWT_PRIVATE_KEY', /at least 2048-bit/],
    [{ JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: ED25519_PRIVATE + ED25519_PRIVATE }, 'JWT_PRIVATE_KEY', /exactly one key/],
    [{ JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: ED25519_PRIVATE, JWT_PRIVATE_KEY_FILE: '/x' }, 'JWT_PRIVATE_KEY', /both set/],
    [{ JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: '', JWT_PRIVATE_KEY_FILE: '/nonexistent/key.pem' }, 'JWT_PRIVATE_KEY_FILE', /cannot be read \(ENOENT\)/],
    [{ JWT_PREVIOUS_PUBLIC_KEYS: RSA_1024_PUBLIC }, 'JWT_PREVIOUS_PUBLIC_KEYS', /Ed25519 or RSA of at least 2048 bits/],
    [{ JWT_PREVIOUS_PUBLIC_KEYS: '-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----' }, 'JWT_PREVIOUS_PUBLIC_KEYS', /not a PEM key/],
    [{ INTROSPECTION_TOKENS: `${'z'.repeat(40)},short` }, 'INTROSPECTION_TOKENS', /at least 32 characters/],
    [{ EVENTS_MAX_LENGTH: '10' }, 'EVENTS_MAX_LENGTH', /between 1000 and/],
    [{ EVENTS_MAX_LENGTH: 'lots' }, 'EVENTS_MAX_LENGTH', /whole number/],
    [{ EXPIRED_EVENTS: 'yes' }, 'EXPIRED_EVENTS', /one of configure, listen, off \(got "yes"\)/],
    [{ DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE', /between 1 and 1000/],
    [{ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_SENTINELS: '10.0.0.1:26379' }, 'REDIS_CLUSTER_NODES', /cannot both be set/],
    [{ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_URL: 'redis://10.0.0.1:6379' }, 'REDIS_CLUSTER_NODES', /REDIS_URL cannot both be set/],
    [{ REDIS_SENTINELS: '10.0.0.1:26379', REDIS_URL: 'redis://10.0.0.1:6379', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS', /REDIS_URL cannot both be set/],
    [{ REDIS_CLUSTER_NODES: '10.0.0.1' }, 'REDIS_CLUSTER_NODES', /host:port \(got "10.0.0.1"\)/],
    [{ REDIS_CLUSTER_NODES: 'a:7000,b:99999' }, 'REDIS_CLUSTER_NODES', /got "b:99999"/],
    [{ REDIS_CLUSTER_NODES: 'redis://a:7000' }, 'REDIS_CLUSTER_NODES', /host:port/],
    [{ REDIS_SENTINELS: '10.0.0.1:26379' }, 'REDIS_SENTINEL_NAME', /must name the primary/],
    [{ REDIS_SENTINELS: '10.0.0.1:26379', REDIS_SENTINEL_NAME: 'bad name' }, 'REDIS_SENTINEL_NAME', /must name the primary/],
    [{ REDIS_PASSWORD: 'secret' }, 'REDIS_PASSWORD', /only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS/],
    [{ REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINEL_NAME', /only used with/],
    [{ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_KEY_PREFIX: 'app{1}:' }, 'REDIS_KEY_PREFIX', /must not contain \{ or \} with REDIS_CLUSTER_NODES/],
    [{ COOKIE_DOMAIN: 'localhost' }, 'COOKIE_DOMAIN', /at least two labels/],
    [{ COOKIE_DOMAIN: 'com' }, 'COOKIE_DOMAIN', /at least two labels/],
    [{ COOKIE_DOMAIN: '10.0.0.1' }, 'COOKIE_DOMAIN', /domain name/],
    [{ COOKIE_DOMAIN: 'https://example.com' }, 'COOKIE_DOMAIN', /domain name/],
    [{ COOKIE_DOMAIN: 'exa mple.com' }, 'COOKIE_DOMAIN', /domain name/],
    [{ COOKIE_DOMAIN: 'exämple.com' }, 'COOKIE_DOMAIN', /domain name/],
    [{ JWT_ISSUER: 'has space' }, 'JWT_ISSUER', /printable ASCII/],
    [{ JWT_ISSUER: 'x'.repeat(257) }, 'JWT_ISSUER', /1-256/],
    [{ JWT_AUD_HEADER: 'JWT_AUD' }, 'JWT_AUD_HEADER', /header name/],
    [{ JWT_ACCEPT_UNTYPED: 'no' }, 'JWT_ACCEPT_UNTYPED', /one of true, false/],
    [{ JWT_VERIFIED_CACHE_SIZE: '-1' }, 'JWT_VERIFIED_CACHE_SIZE', /whole number/],
    [{ JWT_VERIFIED_CACHE_SIZE: '2000000' }, 'JWT_VERIFIED_CACHE_SIZE', /1000000/],
    [{ CONSOLE_HOSTS: 'ops.example.com,https://ops.example.com' }, 'CONSOLE_HOSTS', /has an entry that is not a host name with an optional port, such as ops.example.com or localhost:3000 \(got "https:\/\/ops.example.com"\)/],
    [{ CONSOLE_HOSTS: '*' }, 'CONSOLE_HOSTS', /got "\*"/],
    [{ CONSOLE_HOSTS: ' , ,' }, 'CONSOLE_HOSTS', /names no host: list the console's host names \(ops.example.com\), or leave it empty for any host/],
    [{ CONSOLE_HOSTS: '*.example.com' }, 'CONSOLE_HOSTS', /got "\*.example.com"/],
    [{ CONSOLE_HOSTS: 'ops.example.com/console' }, 'CONSOLE_HOSTS', /got "ops.example.com\/console"/],
    [{ CONSOLE_HOSTS: 'ops.example.com.' }, 'CONSOLE_HOSTS', /got "ops.example.com."/],
    [{ CONSOLE_HOSTS: 'ops..example.com' }, 'CONSOLE_HOSTS', /got "ops..example.com"/],
    [{ CONSOLE_HOSTS: 'localhost:0' }, 'CONSOLE_HOSTS', /got "localhost:0"/],
    [{ CONSOLE_HOSTS: 'localhost:65536' }, 'CONSOLE_HOSTS', /got "localhost:65536"/],
    [{ CONSOLE_HOSTS: 'localhost:' }, 'CONSOLE_HOSTS', /got "localhost:"/],
    [{ CONSOLE_HOSTS: '10.0.0.999' }, 'CONSOLE_HOSTS', /got "10.0.0.999"/],
    [{ CONSOLE_HOSTS: '[::1' }, 'CONSOLE_HOSTS', /got "\[::1"/],
    [{ CONSOLE_HOSTS: 'user@ops.example.com' }, 'CONSOLE_HOSTS', /got "user@ops.example.com"/],
    [{ CONSOLE_HOSTS: 'öps.example.com' }, 'CONSOLE_HOSTS', /got "öps.example.com"/],
  ]
  for (const [env, variable, problem] of cases) {
    t.throws(() => loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, ...env }), { name: 'ConfigError', variable, message: problem }, variable)
    try {
      loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, ...env })
    } catch (err) {
      t.match((err as Error).message, new RegExp(`^Invalid configuration: ${variable} `))
      t.notMatch((err as Error).message, /\n/, 'one line')
    }
  }
})

t.test('production signs with EdDSA by default and requires its private key, in one line', async (t) => {
  const production = { NODE_ENV: 'production', DATABASE_URL: 'postgresql://db.example/gh' }
  t.throws(() => loadConfig(production), new ConfigError('JWT_PRIVATE_KEY', 'is required when NODE_ENV=production: set it, or JWT_PRIVATE_KEY_FILE, to an Ed25519 key: openssl genpkey -algorithm ed25519'))
  // A deployment that signed with HS256 is told how to move without logging anyone out.
  t.throws(() => loadConfig({ ...production, JWT_SECRET: SECRET }), { variable: 'JWT_PRIVATE_KEY', message: /is required when NODE_ENV=production: .* \(JWT_SECRET then keeps verifying the tokens it signed; or set JWT_ALGORITHM=HS256 to keep signing with it; docs\/ops.md, "Moving from HS256 to EdDSA"\)$/ })
  t.throws(() => loadConfig({ ...production, JWT_ALGORITHM: 'HS256' }), new ConfigError('JWT_SECRET', 'is required with JWT_ALGORITHM=HS256 and NODE_ENV=production (or set JWT_SECRET_FILE)'))
  const { config, warnings } = loadConfig({ ...production, JWT_PRIVATE_KEY: ED25519_PRIVATE })
  t.equal(config.jwt.algorithm, 'EdDSA', 'a fresh production deployment with default settings signs with EdDSA')
  t.same(config.jwt.previousSecrets, [], 'and holds no shared secret')
  t.same(warnings, [
    'CONSOLE_HOSTS is empty: the console trusts any Host name as its own origin (a DNS-rebinding page included); set it to the console\'s host names (docs/console.md#where-to-serve-it)',
    'account mail is off (no SMTP_URL): password reset and email verification answer 404',
  ], 'a line each about what it lacks: the console\'s host names and mail')
  t.same(loadConfig({ ...production, JWT_PRIVATE_KEY: ED25519_PRIVATE, CONSOLE_HOSTS: 'ops.example.com' }).warnings, ['account mail is off (no SMTP_URL): password reset and email verification answer 404'], 'the console\'s hosts named')
  t.same(loadConfig({ ...production, JWT_PRIVATE_KEY: ED25519_PRIVATE, CONSOLE_ENABLED: 'false' }).warnings, ['account mail is off (no SMTP_URL): password reset and email verification answer 404'], 'or no console')
})

t.test('moving from HS256: JWT_SECRET keeps verifying the tokens it signed, and signs nothing', async (t) => {
  const dir = t.testdir({ previous: `${'p'.repeat(32)}\n${'q'.repeat(32)}\n` })
  const { config, warnings } = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgresql://db.example/gh', JWT_SECRET: SECRET, JWT_PRIVATE_KEY: ED25519_PRIVATE, JWT_PREVIOUS_SECRETS: 'o'.repeat(32) })
  t.equal(config.jwt.algorithm, 'EdDSA')
  t.equal(config.jwt.signingKey, ED25519_PRIVATE)
  t.same(config.jwt.previousSecrets, [SECRET, 'o'.repeat(32)], 'the former secret verifies, first')
  t.match(warnings, [/JWT_SECRET only verifies the HS256 tokens it signed now that JWT_ALGORITHM=EdDSA signs: move it to JWT_PREVIOUS_SECRETS, and remove it once SESSION_MAX_AGE_SECONDS has passed/])
  t.same(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, JWT_PREVIOUS_SECRETS_FILE: join(dir, 'previous') }).config.jwt.previousSecrets, ['p'.repeat(32), 'q'.repeat(32)], 'JWT_PREVIOUS_SECRETS_FILE: one per line')
})

t.test('JWT_SECRET_FILE: the secret from a file (a Docker or Kubernetes secret), as every replica reads it', async (t) => {
  const dir = t.testdir({ secret: `${SECRET}\n`, short: 'too short\n', empty: '' })
  const hs = { JWT_ALGORITHM: 'HS256' }
  t.equal(loadConfig({ ...hs, NODE_ENV: 'production', DATABASE_URL: 'postgresql://db.example/gh', JWT_SECRET_FILE: join(dir, 'secret') }).config.jwt.signingKey, SECRET, 'the trailing newline is not part of it')
  t.throws(() => loadConfig({ ...hs, JWT_SECRET_FILE: join(dir, 'short') }), { name: 'ConfigError', variable: 'JWT_SECRET', message: /at least 32 bytes/ })
  t.throws(() => loadConfig({ ...hs, NODE_ENV: 'production', JWT_SECRET_FILE: join(dir, 'empty') }), { name: 'ConfigError', variable: 'JWT_SECRET', message: /is required/ })
  t.throws(() => loadConfig({ ...hs, JWT_SECRET_FILE: join(dir, 'missing') }), { name: 'ConfigError', variable: 'JWT_SECRET_FILE', message: /cannot be read \(ENOENT\)/ })
  t.same(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, JWT_SECRET_FILE: join(dir, 'secret') }).config.jwt.previousSecrets, [SECRET], 'with EdDSA, the file only verifies')
  t.throws(() => loadConfig({ ...hs, JWT_SECRET: SECRET, JWT_SECRET_FILE: join(dir, 'secret') }), { name: 'ConfigError', variable: 'JWT_SECRET', message: /both set/ })
})

t.test('outside production a missing Ed25519 key is generated once, kept private, and reused', async (t) => {
  const dir = t.testdir({})
  const devKeyFiles = { privateKey: join(dir, '.gatehouse', 'jwt-ed25519.pem'), secret: join(dir, 'secret') }
  const first = loadConfig({}, { devKeyFiles })
  t.equal(first.config.jwt.algorithm, 'EdDSA')
  t.match(first.warnings[0], /JWT_PRIVATE_KEY is not set: generated a development Ed25519 key and saved it in .*jwt-ed25519.pem \(never use this in production\)/)
  t.equal(createPrivateKey(readFileSync(devKeyFiles.privateKey, 'utf8')).asymmetricKeyType, 'ed25519')
  t.equal(statSync(devKeyFiles.privateKey).mode & 0o777, 0o600, 'readable by its owner only')
  t.equal(statSync(join(dir, '.gatehouse')).mode & 0o777, 0o700, 'in a folder of its owner only')
  t.same(first.config.jwt.previousSecrets, [], 'no shared secret anywhere')

  const second = loadConfig({}, { devKeyFiles })
  t.equal(second.config.jwt.signingKey, first.config.jwt.signingKey, 'a restart keeps sessions valid')
  t.match(second.warnings[0], /using the development Ed25519 key saved/)

  // A laptop that ran the HS256 default before keeps its sessions: the old development secret verifies.
  writeFileSync(devKeyFiles.secret, `${SECRET}\n`, { mode: 0o600 })
  const upgraded = loadConfig({}, { devKeyFiles })
  t.same(upgraded.config.jwt.previousSecrets, [SECRET])
  t.match(upgraded.warnings, [/using the development Ed25519 key/, /the development secret in .* still verifies the tokens it signed/])
})

t.test('the development key is trusted only as ssh trusts a private key', async (t) => {
  const dir = t.testdir({ elsewhere: ED25519_PRIVATE })
  const devKeyFiles = { privateKey: join(dir, '.gatehouse', 'jwt-ed25519.pem'), secret: join(dir, 'secret') }
  const refuse = (why: RegExp, name: string) => t.throws(() => loadConfig({}, { devKeyFiles }), { name: 'ConfigError', variable: 'JWT_PRIVATE_KEY', message: why }, name)
  mkdirSync(join(dir, '.gatehouse'), { mode: 0o700 })
  symlinkSync(join(dir, 'elsewhere'), devKeyFiles.privateKey)
  refuse(/development key .* is a symbolic link: remove it/, 'a symbolic link in its place is not followed')
  rmSync(devKeyFiles.privateKey)
  writeFileSync(devKeyFiles.privateKey, '', { mode: 0o600 })
  refuse(/is empty: remove it to generate a new one/, 'an empty file (a crash mid-write) is one clear line, not a hang')
  writeFileSync(devKeyFiles.privateKey, ED25519_PRIVATE, { mode: 0o600 })
  chmodSync(devKeyFiles.privateKey, 0o644)
  refuse(/is readable or writable by others: chmod 600 it/, 'a key others can read')
  chmodSync(devKeyFiles.privateKey, 0o600)
  if (process.getuid?.() === 0) {
    chownSync(devKeyFiles.privateKey, 4321, 4321)
    refuse(/belongs to another user \(uid 4321\)/, "another user's key")
    chownSync(devKeyFiles.privateKey, 0, 0)
    chownSync(join(dir, '.gatehouse'), 4321, 4321)
    refuse(/the folder of the development key, .*, belongs to another user/, 'a folder another user controls')
    chownSync(join(dir, '.gatehouse'), 0, 0)
  }
  t.equal(loadConfig({}, { devKeyFiles }).config.jwt.signingKey, ED25519_PRIVATE, 'once put right, it is used')
  writeFileSync(devKeyFiles.secret, 'short\n', { mode: 0o600 })
  t.throws(() => loadConfig({}, { devKeyFiles }), { variable: 'JWT_SECRET', message: /at least 32 bytes/ }, 'an old development secret is held to the same length as any secret')
})

t.test('with JWT_ALGORITHM=HS256 a missing secret is generated once and reused, outside production', async (t) => {
  const dir = t.testdir({})
  const devKeyFiles = { privateKey: join(dir, 'key.pem'), secret: join(dir, 'secret') }
  const first = loadConfig({ JWT_ALGORITHM: 'HS256' }, { devKeyFiles })
  t.match(first.warnings[0], /generated a development secret/)
  t.ok(Buffer.byteLength(first.config.jwt.signingKey) >= 32)
  t.equal(readFileSync(devKeyFiles.secret, 'utf8').trim(), first.config.jwt.signingKey)
  t.equal(statSync(devKeyFiles.secret).mode & 0o777, 0o600, 'readable by its owner only')

  const second = loadConfig({ JWT_ALGORITHM: 'HS256' }, { devKeyFiles })
  t.equal(second.config.jwt.signingKey, first.config.jwt.signingKey, 'a restart keeps sessions valid')
  t.match(second.warnings[0], /using the development secret/)
})

t.test('environment variables win over .env', async (t) => {
  const dir = t.testdir({ '.env': 'PORT=4000\nLOG_LEVEL=debug\n# a comment\nJWT_SECRET="from-the-file-0123456789abcdef0123"\n' })
  const env = withDotEnv({ PORT: '5000', JWT_ALGORITHM: 'HS256' }, join(dir, '.env'))
  const { config } = loadConfig(env)
  t.equal(config.port, 5000)
  t.equal(config.logLevel, 'debug')
  t.equal(config.jwt.signingKey, 'from-the-file-0123456789abcdef0123')
  t.same(withDotEnv({ A: '1' }, join(dir, 'missing.env')), { A: '1' }, 'no .env is fine')
  writeFileSync(join(dir, 'unused'), '')
})

t.test('asymmetric keys: no JWT_SECRET needed, previous keys kept as public keys', async (t) => {
  const { config, warnings } = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgresql://db.example/gh', JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: ED25519_PRIVATE, JWT_PREVIOUS_PUBLIC_KEYS: ED25519_PRIVATE, CONSOLE_HOSTS: 'ops.example.com' })
  t.same(warnings.filter((warning) => !warning.startsWith('account mail')), [], 'no development secret is generated')
  t.equal(config.jwt.algorithm, 'EdDSA')
  t.same(config.jwt.previousPublicKeys, [ED25519_PUBLIC], 'a private key given as a previous key is reduced to its public half')

  const switched = loadConfig({ JWT_SECRET: SECRET, JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: ED25519_PRIVATE })
  t.match(switched.warnings, [/JWT_SECRET only verifies the HS256 tokens it signed/], 'switching algorithms warns about the old tokens')
})

t.test('TRUST_PROXY forms', async (t) => {
  const trust = (value: string) => loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, TRUST_PROXY: value }).config.trustProxy
  t.equal(trust('true'), true)
  t.equal(trust('2'), 2)
  t.same(trust('10.0.0.1, 192.168.0.0/16,::1'), ['10.0.0.1', '192.168.0.0/16', '::1'])
})

t.test('CONSOLE_HOSTS: comma-separated hosts, each with an optional port, spelled as a URL spells them', async (t) => {
  const hosts = (value: string) => loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, CONSOLE_HOSTS: value }).config.consoleHosts
  t.same(hosts(''), [], 'empty by default: any host')
  t.same(hosts(' Gatehouse-Ops.Example.COM , localhost:3000,'), ['gatehouse-ops.example.com', 'localhost:3000'], 'trimmed, lower case')
  t.same(hosts('127.0.0.1:03000,[0:0::1]:3000,[::FFFF:7F00:1]'), ['127.0.0.1:3000', '[::1]:3000', '[::ffff:7f00:1]'], 'addresses and ports as a request spells them')
  t.same(hosts('gatehouse_api:3000'), ['gatehouse_api:3000'], 'a container network\'s name, underscore and all')
})

t.test('INTROSPECTION_TOKENS is a comma-separated list', async (t) => {
  const [a, b] = ['a'.repeat(32), 'b'.repeat(48)]
  t.same(loadConfig({ JWT_PRIVATE_KEY: ED25519_PRIVATE, INTROSPECTION_TOKENS: ` ${a} , ${b},` }).config.introspectionTokens, [a, b])
})
