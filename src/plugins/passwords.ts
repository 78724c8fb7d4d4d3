import fp from 'fastify-plugin'
import { ConfigError } from '../config/index.js'
import { createPasswordHasher, type PasswordHasher } from '../users/password-hasher.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** bcrypt in worker threads, with a bounded queue (BCRYPT_MAX_QUEUE) and a deadline (BCRYPT_DEADLINE_MS). */
    passwords: PasswordHasher
  }
}

export default fp(async (app) => {
  const { bcryptCost, bcryptThreads, bcryptMaxQueue, bcryptDeadlineMs, bcryptNice } = app.config
  const passwords = await createPasswordHasher({ cost: bcryptCost, threads: bcryptThreads, maxQueue: bcryptMaxQueue, deadlineMs: bcryptDeadlineMs, nice: bcryptNice, log: app.log })
  const { startupHashMs, threadNice } = passwords
  const measured = { bcryptCost, startupHashMs: Math.round(startupHashMs), bcryptDeadlineMs }
  // A deadline shorter than one hash here would answer every login 503: refuse to start instead.
  if (startupHashMs >= bcryptDeadlineMs) {
    await passwords.close()
    throw new ConfigError('BCRYPT_DEADLINE_MS', `(${bcryptDeadlineMs} ms) is shorter than one bcrypt hash at BCRYPT_COST ${bcryptCost} on this machine (${measured.startupHashMs} ms): every login would get 503`)
  }
  // One that a check nearly fills fails logins under the slightest load: say so at start.
  if (startupHashMs * 2 > bcryptDeadlineMs) {
    app.log.warn(measured, 'one bcrypt hash takes more than half of BCRYPT_DEADLINE_MS here: logins will get 503 under load; lower BCRYPT_COST or raise the deadline')
  }
  app.addHook('onClose', () => passwords.close())
  if (threadNice !== null && threadNice !== bcryptNice) {
    app.log.warn({ bcryptNice, threadNice }, 'the bcrypt threads could not take BCRYPT_NICE (a nice value below the process\'s own needs the privilege to lower it): they run at the one shown')
  }
  app.decorate('passwords', passwords)
}, { name: 'passwords', dependencies: ['config'] })
