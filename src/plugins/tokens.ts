import fp from 'fastify-plugin'
import { createUntypedWindow } from '../sessions/untyped-window.js'
import { createTokenService, type TokenService } from '../tokens/tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs and verifies session tokens (fast-jwt, algorithms pinned per key). */
    tokens: TokenService
  }
}

export default fp(async (app) => {
  const { config } = app
  // Untyped tokens from before pass only within a window recorded in Redis, which ends by itself.
  const untyped = createUntypedWindow(app.redis, {
    keyPrefix: config.redisKeyPrefix,
    maxAgeSeconds: config.sessionMaxAgeSeconds,
    accept: config.jwt.acceptUntyped,
    log: app.log,
  })
  await untyped.start()
  app.addHook('onClose', async () => untyped.stop())
  app.decorate('tokens', createTokenService(config.jwt, { untypedOpen: untyped.isOpen }))
}, { name: 'tokens', dependencies: ['config', 'redis'] })
