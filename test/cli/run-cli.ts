import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Config, formatHostPorts } from '../../src/config/index.js'

// The built command-line tool (npm test builds first), run as an operator would.
const CLI = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url))

export function gatehouse (args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

/** The environment that points the CLI at a test app's Postgres, Redis and prefix. */
export function cliEnv (config: Config): Record<string, string> {
  return {
    ...(config.database.mode === 'postgres' ? { DATABASE_URL: config.database.url } : { EMBEDDED_DATABASE_DIR: config.database.dir }),
    ...redisEnv(config),
    REDIS_KEY_PREFIX: config.redisKeyPrefix,
    ...(config.jwt.algorithm === 'HS256' ? { JWT_ALGORITHM: 'HS256', JWT_SECRET: config.jwt.signingKey } : { JWT_ALGORITHM: config.jwt.algorithm, JWT_PRIVATE_KEY: config.jwt.signingKey }),
    BCRYPT_COST: '10',
    SESSION_TTL_SECONDS: String(config.sessionTtlSeconds),
    SESSION_MAX_AGE_SECONDS: String(config.sessionMaxAgeSeconds),
  }
}

/** The environment variables that name the Redis `config` uses. */
export function redisEnv (config: Config): Record<string, string> {
  const target = config.redis
  if (target.mode === 'cluster') return { REDIS_CLUSTER_NODES: formatHostPorts(target.nodes) }
  if (target.mode === 'sentinel') return { REDIS_SENTINELS: formatHostPorts(target.sentinels), REDIS_SENTINEL_NAME: target.name }
  return { REDIS_URL: target.url }
}
