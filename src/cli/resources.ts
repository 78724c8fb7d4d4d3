import type { Config } from '../config/index.js'
import type { AccountAdmin } from '../core/account-changes.js'
import type { RedisClient } from '../redis/client.js'
import type { SessionTtl } from '../sessions/session-ttl.js'
import type { SessionStore } from '../sessions/store.js'
import { silentLog } from '../shared/log.js'
import type { UserRepository } from '../users/repository.js'

/**
 * What a command may use, each built (and its module loaded) the first time the command asks for
 * it, with the same builders the server's plugins use (src/resources): `gatehouse ttl get` opens
 * one Redis connection and never loads Fastify, Prisma or the bcrypt threads.
 */
export interface Resources {
  redis(): Promise<RedisClient>
  sessionTtl(): Promise<SessionTtl>
  sessions(): Promise<SessionStore>
  users(): Promise<UserRepository>
  accountAdmin(): Promise<AccountAdmin>
  /** Closes whatever was opened, last opened first. */
  close(): Promise<void>
}

export function openResources (config: Config): Resources {
  const closers: Array<() => Promise<void> | void> = []
  const once = <T>(open: () => Promise<T>) => {
    let opened: Promise<T> | undefined
    return () => (opened ??= open())
  }

  const redis = once(async () => {
    const [{ openRedis }, { closeRedis }] = await Promise.all([import('../resources/redis.js'), import('../redis/client.js')])
    const client = await openRedis(config, silentLog)
    closers.push(() => closeRedis(client))
    return client
  })
  const sessionTtl = once(async () => {
    const { startSessionTtl } = await import('../resources/session-ttl.js')
    const ttl = await startSessionTtl(await redis(), config, silentLog)
    closers.push(() => ttl.stop())
    return ttl
  })
  const sessions = once(async () => {
    const { openSessionStore } = await import('../resources/sessions.js')
    return openSessionStore(await redis(), await sessionTtl(), config, silentLog)
  })
  const users = once(async () => {
    const [{ openUsersDatabase }, { createUserRepository }] = await Promise.all([import('../resources/database.js'), import('../users/repository.js')])
    // The embedded database: through the running server's socket, or opened here while no server runs.
    const database = await openUsersDatabase(config, { role: 'cli', log: (message) => console.error(`gatehouse: ${message}`) })
    closers.push(() => database.close())
    return createUserRepository(database.db)
  })
  const accountAdmin = once(async () => {
    const [{ createAccountAdmin }, { openThrottles }] = await Promise.all([import('../core/account-changes.js'), import('../resources/throttles.js')])
    return createAccountAdmin({ users: await users(), sessions: await sessions(), throttles: openThrottles(await redis(), config) })
  })

  return {
    redis,
    sessionTtl,
    sessions,
    users,
    accountAdmin,
    async close () {
      for (const close of closers.reverse()) await close()
    },
  }
}
