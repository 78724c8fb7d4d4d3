import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config/index.js'
import { withDotEnv } from '../../src/config/dotenv.js'

const SECRET = 'x'.repeat(32)

t.test('defaults give a working local setup', async (t) => {
  const { config } = loadConfig({ JWT_SECRET: SECRET })
  t.match(config, {
    production: false,
    port: 3000,
    host: '127.0.0.1',
    databaseUrl: 'postgresql://postgres:postgres@127.0.0.1:5432/gatehouse',
    redisUrl: 'redis://127.0.0.1:6379',
    redisKeyPrefix: 'gatehouse:',
    sessionTtlSeconds: 1200,
    sessionMaxAgeSeconds: 30 * 24 * 3600,
    bcryptCost: 12,
    logLevel: 'info',
    corsOrigins: [],
  })
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
    [{ BCRYPT_COST: '40' }, 'BCRYPT_COST', /between 4 and 15/],
    [{ DATABASE_URL: 'mysql://x@y/z' }, 'DATABASE_URL', /postgres/],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL', /must be a URL/],
    [{ REDIS_URL: 'http://localhost' }, 'REDIS_URL', /redis:\/\//],
    [{ REDIS_KEY_PREFIX: 'has space' }, 'REDIS_KEY_PREFIX', /letters, digits/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /one of/],
    [{ CORS_ORIGINS: '*' }, 'CORS_ORIGINS', /explicitly/],
    [{ CORS_ORIGINS: 'https://a.example/path' }, 'CORS_ORIGINS', /bare origins/],
  ]
  for (const [env, variable, problem] of cases) {
    t.throws(() => loadConfig({ JWT_SECRET: SECRET, ...env }), { name: 'ConfigError', variable, message: problem }, variable)
    try {
      loadConfig({ JWT_SECRET: SECRET, ...env })
    } catch (err) {
      t.match((err as Error).message, new RegExp(`^Invalid configuration: ${variable} `))
      t.notMatch((err as Error).message, /\n/, 'one line')
    }
  }
})

t.test('JWT_SECRET is required in production', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), new ConfigError('JWT_SECRET', 'is required when NODE_ENV=production'))
})

t.test('outside production a missing secret is generated once and reused', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'secret')
  const first = loadConfig({}, { devSecretFile: file })
  t.match(first.warnings[0], /generated a development secret/)
  t.ok(Buffer.byteLength(first.config.jwtSecret) >= 32)
  t.equal(readFileSync(file, 'utf8').trim(), first.config.jwtSecret)
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by its owner only')

  const second = loadConfig({}, { devSecretFile: file })
  t.equal(second.config.jwtSecret, first.config.jwtSecret, 'a restart keeps sessions valid')
  t.match(second.warnings[0], /using the development secret/)
})

t.test('environment variables win over .env', async (t) => {
  const dir = t.testdir({ '.env': 'PORT=4000\nLOG_LEVEL=debug\n# a comment\nJWT_SECRET="from-the-file-0123456789abcdef0123"\n' })
  const env = withDotEnv({ PORT: '5000' }, join(dir, '.env'))
  const { config } = loadConfig(env)
  t.equal(config.port, 5000)
  t.equal(config.logLevel, 'debug')
  t.equal(config.jwtSecret, 'from-the-file-0123456789abcdef0123')
  t.same(withDotEnv({ A: '1' }, join(dir, 'missing.env')), { A: '1' }, 'no .env is fine')
  writeFileSync(join(dir, 'unused'), '')
})
