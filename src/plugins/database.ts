import fp from 'fastify-plugin'
import { createDatabase, type Database, warmUp } from '../db/prisma.js'
import { createUserRepository, type UserRepository } from '../users/repository.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Prisma over the pg driver (only /ready uses it directly). */
    db: Database
    /** Users in Postgres. */
    users: UserRepository
  }
}

export default fp(async (app) => {
  const { databaseUrl, databaseTimeoutMs, databasePoolSize } = app.config
  const db = createDatabase(databaseUrl, databaseTimeoutMs, databasePoolSize)
  app.addHook('onClose', () => db.$disconnect())
  // The first /ready and the first login should not pay for Prisma's cold start.
  await warmUp(db, databaseTimeoutMs)
  app.decorate('db', db)
  app.decorate('users', createUserRepository(db))
}, { name: 'database', dependencies: ['config'] })
