import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto'
import { type Config, type Env, loadConfig } from '../../src/config/index.js'
import { TEST_DATABASE_URL } from './db.js'

// What the tests run against: the test database and Redis, a signing key, and fresh names so
// that tests never share data (a key prefix per test app, an email domain, a database name).

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
/**
 * Set by `npm run test:cluster` (scripts/test-cluster.mjs): the session suite then runs against a
 * real Redis Cluster, unless a test picks its own Redis (REDIS_URL or REDIS_SENTINELS in `env`).
 */
export const TEST_REDIS_CLUSTER_NODES = process.env.TEST_REDIS_CLUSTER_NODES ?? ''
export const TEST_JWT_SECRET = 'gatehouse-test-secret-0123456789abcdef0123456789'
/** The tests' Ed25519 signing key (EdDSA, the default), from a fixed seed: a test key, never a deployment's. */
const testKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), createHash('sha256').update('gatehouse test key').digest()]), format: 'der', type: 'pkcs8' })
export const TEST_JWT_PRIVATE_KEY = testKey.export({ format: 'pem', type: 'pkcs8' }).toString()
export const TEST_JWT_PUBLIC_KEY = createPublicKey(testKey).export({ format: 'pem', type: 'spki' }).toString()
/** Its kid: the RFC 7638 thumbprint, as Gatehouse computes it. */
export const TEST_JWT_KID = (() => {
  const { crv, kty, x } = createPublicKey(testKey).export({ format: 'jwk' })
  return createHash('sha256').update(JSON.stringify({ crv, kty, x })).digest('base64url')
})()
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
    // EdDSA, the default, with the test key; a test that sets JWT_ALGORITHM=HS256 gets the test secret.
    ...(env.JWT_ALGORITHM === 'HS256' ? { JWT_SECRET: TEST_JWT_SECRET } : env.JWT_ALGORITHM ? {} : { JWT_PRIVATE_KEY: TEST_JWT_PRIVATE_KEY }),
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
    // No mail unless a test asks for it (SMTP_URL of its own server, or MAIL_TRANSPORT=files).
    MAIL_TRANSPORT: env.SMTP_URL ? 'smtp' : 'off',
    ...rest,
  }).config
  return { ...config, bcryptCost: cost === undefined ? TEST_BCRYPT_COST : Number(cost) }
}
