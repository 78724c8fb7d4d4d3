import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

/** Where the API docs (an HTML page with its scripts, and the OpenAPI JSON) are served. */
export const DOCS_PREFIX = '/docs'

/**
 * OpenAPI 3 for the whole HTTP API, generated from the route schemas (the same ones that validate
 * requests and serialise replies, so it cannot drift): JSON at /docs/json, a browsable UI at /docs.
 */
export const apiDocs: FastifyPluginAsync = fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse',
        description: 'Server-side sessions for token-authenticated APIs. Sessions live in Redis with a sliding TTL; see docs/session-contract.md.',
        version: '1',
      },
      components: {
        securitySchemes: {
          sessionToken: {
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description: 'Token token=<token> (or Bearer <token>), the token from POST /sessions',
          },
          serviceCredential: { type: 'http', scheme: 'bearer', description: 'An INTROSPECTION_TOKENS entry (POST /introspect only)' },
        },
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX })
})
