import { type Config, formatHostPorts, type RedisTarget } from '../config/index.js'
import { closeRedis, connectRedis, createRedisClient } from '../redis/client.js'
import { redactUrl as redact } from '../shared/redact-url.js'
import { StartupError } from '../shared/startup-error.js'

export class DependencyError extends StartupError {
  override name = 'DependencyError'
}

const TIMEOUT_MS = 3000

/**
 * Fails fast, naming what is missing and how to start it, instead of retrying forever. The
 * embedded database is not checked here: opening it says what is wrong (db/embedded.ts).
 */
export async function checkDependencies (config: Config, needs: { postgres: boolean } = { postgres: true }): Promise<void> {
  const { database } = config
  const postgres = needs.postgres && database.mode === 'postgres' ? checkPostgres(database.url) : null
  const problems = (await Promise.all([checkRedis(config.redis), postgres])).filter(Boolean)
  if (problems.length > 0) throw new DependencyError(problems.join('; '))
}

async function checkRedis (target: RedisTarget): Promise<string | null> {
  const redis = createRedisClient({ target, commandTimeoutMs: TIMEOUT_MS, logger: { warn: () => {}, info: () => {} } })
  // The first connection error is the answer: the client would keep retrying in the background.
  let firstError: (reason: string) => void = () => {}
  const failed = new Promise<string>((resolve) => (firstError = resolve))
  redis.on('error', (err: Error) => firstError(describe(err)))
  try {
    const problem = await Promise.race([connectRedis(redis, TIMEOUT_MS).then((ready) => (ready ? null : 'no answer')), failed])
    if (problem !== null) throw new Error(problem)
    await redis.ping()
    return null
  } catch (err) {
    return `cannot reach Redis at ${describeTarget(target)} (${describe(err)}); start it (e.g. \`docker compose up -d redis\`) or set ${settingOf(target)}`
  } finally {
    await closeRedis(redis)
  }
}

const describeTarget = (target: RedisTarget) => {
  if (target.mode === 'cluster') return `cluster nodes ${formatHostPorts(target.nodes)}`
  if (target.mode === 'sentinel') return `primary "${target.name}" of sentinels ${formatHostPorts(target.sentinels)}`
  return redact(target.url)
}

const settingOf = (target: RedisTarget) => ({ single: 'REDIS_URL', cluster: 'REDIS_CLUSTER_NODES', sentinel: 'REDIS_SENTINELS' })[target.mode]

async function checkPostgres (url: string): Promise<string | null> {
  // Loaded here: a command that needs only Redis does not pay for the driver.
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: TIMEOUT_MS })
  client.on('error', () => {})
  try {
    await client.connect()
    return null
  } catch (err) {
    // A missing database is fine: the migrations create it.
    if ((err as { code?: string }).code === '3D000') return null
    return `cannot reach PostgreSQL at ${redact(url)} (${describe(err)}); start it (e.g. \`docker compose up -d postgres\`) or fix DATABASE_URL (unset, development uses an embedded database)`
  } finally {
    await client.end().catch(() => {})
  }
}

function describe (err: unknown): string {
  const e = err as { code?: string; message?: string }
  return e.code ?? e.message ?? String(err)
}
