import fp from 'fastify-plugin'
import { createTokenWindows } from '../sessions/token-windows.js'
import { createTokenService, type TokenService } from '../tokens/tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs and verifies session tokens (fast-jwt, algorithms pinned per key). */
    tokens: TokenService
  }
}

export default fp(async (app) => {
  const { config } = app
  // Untyped tokens from before, and tokens of a former HS256 secret, reach sessions only within
  // windows recorded in Redis (sessions/token-windows.ts).
  const windows = createTokenWindows(app.redis, {
    keyPrefix: config.redisKeyPrefix,
    maxAgeSeconds: config.sessionMaxAgeSeconds,
    acceptUntyped: config.jwt.acceptUntyped,
    signsWithPrivateKey: config.jwt.algorithm !== 'HS256',
    log: app.log,
  })
  await windows.start()
  app.addHook('onClose', () => windows.stop())
  app.decorate('tokens', createTokenService(config.jwt, { untypedOpen: windows.untypedOpen, sharedSecretSessionsBefore: windows.sharedSecretSessionsBefore }))
}, { name: 'tokens', dependencies: ['config', 'redis'] })
