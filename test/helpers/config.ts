import { randomBytes } from 'node:crypto'
import { type Config, type Env, loadConfig } from '../../src/config/index.js'
import { TEST_DATABASE_URL } from './db.js'

// What the tests run against: the test database and Redis, a signing secret, and fresh names so
// that tests never share data (a key prefix per test app, an email domain, a database name).

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
/**
 * Set by `npm run test:cluster` (scripts/test-cluster.mjs): the session suite then runs against a
 * real Redis Cluster, unless a test picks its own Redis (REDIS_URL or REDIS_SENTINELS in `env`).
 */
export const TEST_REDIS_CLUSTER_NODES = process.env.TEST_REDIS_CLUSTER_NODES ?? ''
export const TEST_JWT_SECRET = 'gatehouse-test-secret-0123456789abcdef0123456789'
/** Cheap hashes for the tests (see testConfig). */
export const TEST_BCRYPT_COST = 4

export const uniqueId = () => randomBytes(6).toString('hex')

/**
 * A validated config for tests: silent logs, a fresh key prefix, brute-force limits far above
 * what a test file does (test/http/throttling.test.ts runs with the real ones); `env` overrides
 * anything ('' means the default).
 *
 * bcrypt runs at cost 4 unless `env.BCRYPT_COST` says otherwise: BCRYPT_COST refuses anything
 * below 10, so the tests set the field directly, and no setting lets a deployment do the same.
 */
export function testConfig (env: Env = {}): Config {
  const { BCRYPT_COST: cost, ...rest } = env
  const ownRedis = env.REDIS_URL !== undefined || env.REDIS_SENTINELS !== undefined || env.REDIS_CLUSTER_NODES !== undefined
  const config = loadConfig({
    DATABASE_URL: TEST_DATABASE_URL,
    ...(ownRedis ? {} : TEST_REDIS_CLUSTER_NODES ? { REDIS_CLUSTER_NODES: TEST_REDIS_CLUSTER_NODES } : { REDIS_URL: TEST_REDIS_URL }),
    REDIS_KEY_PREFIX: `gatehouse-test:${uniqueId()}:`,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    // Expired events need keyspace notifications, which are the shared Redis' own setting: only
    // test/sessions/events.test.ts turns them on, on a Redis of its own.
    EXPIRED_EVENTS: 'off',
    LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK: '1000',
    LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000',
    LOGIN_MAX_FAILURES_PER_IP: '100000',
    SIGNUP_MAX_PER_IP: '100000',
    // Two test files share the two cores: a check at a real cost may take seconds there. The
    // tests about the deadline and the priority set their own (test/users/password-pool.test.ts).
    BCRYPT_DEADLINE_MS: '60000',
    BCRYPT_NICE: '0',
    ...rest,
  }).config
  return { ...config, bcryptCost: cost === undefined ? TEST_BCRYPT_COST : Number(cost) }
}
