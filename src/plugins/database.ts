import fp from 'fastify-plugin'
import { type Database, warmUp } from '../db/prisma.js'
import { openUsersDatabase } from '../resources/database.js'
import { type AccountTokens, createAccountTokens } from '../users/account-tokens.js'
import { createEmailCache, type EmailCache } from '../users/email-cache.js'
import { createUserRepository, type UserRepository } from '../users/repository.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Prisma over the pg driver (only /ready uses it directly). */
    db: Database
    /** Users in PostgreSQL. */
    users: UserRepository
    /** Users' emails by id, a bounded cache over one query per call: for the console's lists (events, sessions now). */
    userEmails: EmailCache
    /** The single-use tokens mailed to users (reset, verification), in PostgreSQL. */
    accountTokens: AccountTokens
  }
}

export default fp(async (app) => {
  const { databaseTimeoutMs } = app.config
  const { db, where, close } = await openUsersDatabase(app.config, { role: 'server', log: (message) => app.log.info(message) })
  app.addHook('onClose', close)
  app.log.info({ database: app.config.database.mode }, `users in ${where}`)
  // The first /ready and the first login should not pay for Prisma's cold start.
  await warmUp(db, databaseTimeoutMs)
  app.decorate('db', db)
  const users = createUserRepository(db)
  app.decorate('users', users)
  app.decorate('userEmails', createEmailCache({ lookUp: (ids) => users.emailsOf(ids), log: app.log }))
  app.decorate('accountTokens', createAccountTokens(db))
}, { name: 'database', dependencies: ['config'] })
