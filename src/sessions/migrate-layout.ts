import type { Log } from '../shared/log.js'
import { Cluster } from 'ioredis'
import { type RedisClient, scanBatches } from '../redis/client.js'
import { legacyKeys } from './keys.js'
import { sessionScripts } from './scripts/index.js'

export interface MigrationReport {
  moved: number
  /** Ended by a revoke-all that ran after the upgrade (see migrate-session-8.lua). */
  dropped: number
  /** Expired, or ended, between the scan and the move. */
  gone: number
}

/**
 * Moves every session a layout-2 release wrote (key names without hash tags) to its layout-3 keys:
 * a SCAN, then one atomic script per session, safe to run while the service serves (and again:
 * it only finds what is left). The server runs it at start-up; `gatehouse sessions migrate` runs
 * it by hand. Until it has reached a session, that session's requests get 401. On a Cluster there
 * is nothing to do: no layout-2 release ran on one (its scripts were not Cluster-safe).
 */
export async function migrateLegacySessions (redis: RedisClient, keyPrefix: string): Promise<MigrationReport> {
  const report: MigrationReport = { moved: 0, dropped: 0, gone: 0 }
  if (redis instanceof Cluster) return report
  const scripts = sessionScripts(redis, keyPrefix)
  const legacy = legacyKeys(keyPrefix)
  for await (const found of scanBatches(redis, legacy.sessionPattern)) {
    for (const key of found.filter(legacy.isLegacySession)) {
      const id = legacy.idOf(key)
      const userId = await redis.hget(key, 'user_id')
      if (!userId) {
        report.gone++
        continue
      }
      report[await scripts.migrateSession({ userId, id })]++
    }
  }
  return report
}

/** At start-up, in the background: logs what it did, and a failure (the CLI can run it again). */
export function migrateInBackground (redis: RedisClient, keyPrefix: string, log: Log): Promise<void> {
  return migrateLegacySessions(redis, keyPrefix).then(
    (report) => {
      if (report.moved + report.dropped + report.gone > 0) log.info(report, 'moved layout-2 sessions to layout 3')
    },
    (err: Error) => log.warn({ err: err.message }, 'could not move layout-2 sessions to layout 3; run `gatehouse sessions migrate`')
  )
}
