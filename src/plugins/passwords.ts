import fp from 'fastify-plugin'
import { createPasswordHasher, type PasswordHasher } from '../users/passwords.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** bcrypt in worker threads, with a bounded queue (BCRYPT_MAX_QUEUE) and a deadline (BCRYPT_DEADLINE_MS). */
    passwords: PasswordHasher
  }
}

export default fp(async (app) => {
  const { bcryptCost, bcryptThreads, bcryptMaxQueue, bcryptDeadlineMs, bcryptNice } = app.config
  const passwords = await createPasswordHasher({ cost: bcryptCost, threads: bcryptThreads, maxQueue: bcryptMaxQueue, deadlineMs: bcryptDeadlineMs, nice: bcryptNice })
  // A deadline that one check at this cost, on this machine, nearly fills fails logins under the
  // slightest load: say so at start rather than let ops find out from 503s.
  if (passwords.startupHashMs * 2 > bcryptDeadlineMs) {
    app.log.warn({ bcryptCost, startupHashMs: Math.round(passwords.startupHashMs), bcryptDeadlineMs }, 'one bcrypt hash takes more than half of BCRYPT_DEADLINE_MS here: logins will get 503 under load; lower BCRYPT_COST or raise the deadline')
  }
  app.decorate('passwords', passwords)
  app.addHook('onClose', () => passwords.close())
}, { name: 'passwords', dependencies: ['config'] })
