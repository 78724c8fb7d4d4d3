import type { FastifyPluginAsync } from 'fastify'
import type { Services } from '../app.js'

/** Public keys for other services to verify tokens without any secret (RFC 7517 JWK Set). */
export const jwksRoutes: FastifyPluginAsync<Services> = async (app, { tokens }) => {
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    // Short enough that a rotation reaches verifiers soon; they should refetch on an unknown kid.
    return reply.header('cache-control', 'public, max-age=300').send(tokens.jwks)
  })
}
