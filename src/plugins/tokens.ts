import fp from 'fastify-plugin'
import { createTokenService, type TokenService } from '../tokens/tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs and verifies session tokens (fast-jwt, algorithms pinned per key). */
    tokens: TokenService
  }
}

export default fp(async (app) => {
  app.decorate('tokens', createTokenService(app.config.jwt))
}, { name: 'tokens', dependencies: ['config'] })
