import fp from 'fastify-plugin'
import { openDatabase } from '../db/open-database.js'
import { createDatabase, type Database, warmUp } from '../db/prisma.js'
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
  const { database, databaseTimeoutMs, databasePoolSize } = app.config
  // DATABASE_URL, or the embedded database, which this server then owns and serves (db/embedded.ts).
  const opened = await openDatabase(database, { role: 'server', poolSize: databasePoolSize, log: (message) => app.log.info(message) })
  const db = createDatabase(opened.url, databaseTimeoutMs, databasePoolSize)
  app.addHook('onClose', async () => {
    await db.$disconnect()
    await opened.close()
  })
  app.log.info({ database: database.mode }, `users in ${opened.where}`)
  // The first /ready and the first login should not pay for Prisma's cold start.
  await warmUp(db, databaseTimeoutMs)
  app.decorate('db', db)
  const users = createUserRepository(db)
  app.decorate('users', users)
  app.decorate('userEmails', createEmailCache({ lookUp: (ids) => users.emailsOf(ids), log: app.log }))
  app.decorate('accountTokens', createAccountTokens(db))
}, { name: 'database', dependencies: ['config'] })
