import fp from 'fastify-plugin'
import { startSessionTtl } from '../resources/session-ttl.js'
import type { SessionTtl } from '../sessions/session-ttl.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The sliding TTL in force, shared by every instance through Redis (ops change it live). */
    sessionTtl: SessionTtl
  }
}

export default fp(async (app) => {
  const ttl = await startSessionTtl(app.redis, app.config, app.log)
  app.decorate('sessionTtl', ttl)
  app.addHook('onClose', async () => ttl.stop())
}, { name: 'session-ttl', dependencies: ['config', 'redis'] })
