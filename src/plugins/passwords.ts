import fp from 'fastify-plugin'
import { createPasswordHasher, type PasswordHasher } from '../users/passwords.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** bcrypt in worker threads, with a bounded queue (BCRYPT_MAX_QUEUE). */
    passwords: PasswordHasher
  }
}

export default fp(async (app) => {
  const { bcryptCost, bcryptThreads, bcryptMaxQueue } = app.config
  const passwords = await createPasswordHasher({ cost: bcryptCost, threads: bcryptThreads, maxQueue: bcryptMaxQueue })
  app.decorate('passwords', passwords)
  app.addHook('onClose', () => passwords.close())
}, { name: 'passwords', dependencies: ['config'] })
