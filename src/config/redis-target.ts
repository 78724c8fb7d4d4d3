import { ConfigError } from './config-error.js'
import { matching, type HostPort, type Parser, url } from './parsers.js'

/** Credentials for Cluster nodes or a Sentinel-managed primary (a single server has them in REDIS_URL). */
export interface RedisAuth {
  username?: string
  password?: string
}

export type RedisTarget =
  | { mode: 'single'; url: string }
  | ({ mode: 'cluster'; nodes: HostPort[] } & RedisAuth)
  | ({ mode: 'sentinel'; sentinels: HostPort[]; name: string; sentinelPassword?: string } & RedisAuth)

const redisUrl = url(['redis:', 'rediss:'])

/**
 * REDIS_URL's entry: exactly one of REDIS_URL (the default), REDIS_CLUSTER_NODES, REDIS_SENTINELS
 * with REDIS_SENTINEL_NAME; REDIS_USERNAME and the passwords only with the latter two.
 */
export const redisTarget: Parser<RedisTarget> = {
  accepts: redisUrl.accepts,
  parse: (name, raw, context) => {
    const { value, isSet } = context
    const cluster = isSet('REDIS_CLUSTER_NODES')
    const sentinels = isSet('REDIS_SENTINELS')
    if (cluster && sentinels) throw new ConfigError('REDIS_CLUSTER_NODES', 'and REDIS_SENTINELS cannot both be set: pick one')
    if (cluster || sentinels) {
      if (isSet('REDIS_URL')) throw new ConfigError(cluster ? 'REDIS_CLUSTER_NODES' : 'REDIS_SENTINELS', 'and REDIS_URL cannot both be set: pick one')
      const username = value('REDIS_USERNAME')
      const password = value('REDIS_PASSWORD')
      const auth: RedisAuth = { ...(username ? { username } : {}), ...(password ? { password } : {}) }
      if (cluster) return { mode: 'cluster', nodes: value('REDIS_CLUSTER_NODES'), ...auth }
      const primary = value('REDIS_SENTINEL_NAME')
      const sentinelPassword = value('REDIS_SENTINEL_PASSWORD')
      return { mode: 'sentinel', sentinels: value('REDIS_SENTINELS'), name: primary, ...auth, ...(sentinelPassword ? { sentinelPassword } : {}) }
    }
    for (const other of ['REDIS_SENTINEL_NAME', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD'] as const) {
      if (isSet(other)) throw new ConfigError(other, 'is only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS (a single server takes its credentials in REDIS_URL)')
    }
    return { mode: 'single', url: redisUrl.parse(name, raw, context) }
  },
}

const primaryName = matching(/^[A-Za-z0-9._-]{1,64}$/, 'must name the primary the Sentinels monitor (1-64 letters, digits, . _ -)', '1–64 letters, digits, `.` `_` `-`')

/** REDIS_SENTINEL_NAME: required with REDIS_SENTINELS, and otherwise refused (by REDIS_URL's entry). */
export const sentinelName: Parser<string> = {
  accepts: primaryName.accepts,
  parse: (name, raw, context) => (context.isSet('REDIS_SENTINELS') ? primaryName.parse(name, raw, context) : raw),
}
