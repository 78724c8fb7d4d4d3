import type { FastifyPluginAsync } from 'fastify'
import { jwkSet } from '../schemas/health.js'

/** Public keys for other services to verify tokens without any secret (RFC 7517 JWK Set). */
export const jwksRoutes: FastifyPluginAsync = async (app) => {
  const { tokens } = app
  app.get('/.well-known/jwks.json', { schema: { operationId: 'jwks', summary: 'The public keys that verify tokens', response: { 200: jwkSet } } }, async (_request, reply) => {
    // Short enough that a rotation reaches verifiers soon; they should refetch on an unknown kid.
    return reply.header('cache-control', 'public, max-age=300').send(tokens.jwks)
  })
}
