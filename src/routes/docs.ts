import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { cookieNames, CSRF_HEADER } from '@gatehouse/session-reader/credentials'
import { AUDIENCE_PATTERN } from '@gatehouse/session-reader/token'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { RESPONSE_HEADERS } from '../schemas/errors.js'

/** Where the API docs (an HTML page with its scripts, and the OpenAPI JSON) are served. */
export const DOCS_PREFIX = '/docs'

type Operation = { operationId?: string, security?: object[], parameters?: object[], responses?: Record<string, { headers?: Record<string, unknown> }> }
type Document = { paths?: Record<string, Record<string, Operation>>, components?: { responses?: Record<string, unknown> } }

/**
 * OpenAPI 3.1 for the whole HTTP API, generated from the route schemas (the same ones that validate
 * requests and serialise replies, so it cannot drift): JSON at /docs/json, a browsable UI at /docs.
 * Every test response is checked against it (test/helpers/openapi.ts), and Redocly's recommended
 * lint passes on it (test/http/openapi.test.ts).
 */
export const apiDocs: FastifyPluginAsync = fp(async (app) => {
  const { config } = app
  const cookie = cookieNames({ secure: config.cookies.secure, shared: config.cookies.domain !== null })
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse',
        description: 'Server-side sessions for token-authenticated APIs. Sessions live in Redis with a sliding TTL; see docs/session-contract.md. Every answer carries X-Request-Id; every error is `{ error, message }` (docs/api.md).',
        version: '1',
      },
      servers: [{ url: '/', description: 'This server' }],
      components: {
        securitySchemes: {
          sessionToken: {
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description: '`Token token=<token>` (or `Bearer <token>`), the token from POST /sessions',
          },
          sessionCookie: {
            type: 'apiKey',
            in: 'cookie',
            name: cookie.session.at(-1)!,
            description: 'The web app\'s session cookie, set by a login with `transport: "cookie"`. With it, every POST, PUT and DELETE also needs csrfToken',
          },
          csrfToken: {
            type: 'apiKey',
            in: 'header',
            name: CSRF_HEADER,
            description: `The login's \`csrf_token\` (also in the readable ${cookie.csrf} cookie), with the cookie transport on POST, PUT and DELETE`,
          },
          serviceCredential: { type: 'http', scheme: 'bearer', description: 'An INTROSPECTION_TOKENS entry (POST /introspect only)' },
        },
        headers: RESPONSE_HEADERS,
        parameters: {
          // Read by the login and the session check, not by a route schema (which would validate
          // a header on every request): declared here, on the operations that read it.
          audience: {
            name: config.jwt.audienceHeader,
            in: 'header',
            required: false,
            description: 'The audience (client) the token is bound to: at login, binds it; on every request with a bound token, must name the same audience or the answer is 401 invalid_token (docs/api.md, "Sending the token")',
            schema: { type: 'string', pattern: AUDIENCE_PATTERN.source },
          },
        },
      },
    },
    transformObject: (documents) => 'openapiObject' in documents ? withSharedErrors(withAudience(withHeaderReferences(documents.openapiObject as Document))) as typeof documents.openapiObject : documents.swaggerObject,
  })
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX })
})

/**
 * Every response: X-Request-Id, and each header the schema names as a reference to
 * components.headers. A route that can answer 429 is a limited one: every answer of it may carry
 * the RateLimit fields (src/plugins/throttles.ts, quotaFields).
 */
function withHeaderReferences (document: Document): Document {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const limited = operation.responses?.['429'] !== undefined ? ['RateLimit-Policy', 'RateLimit'] : []
      for (const response of Object.values(operation.responses ?? {})) {
        const names = ['X-Request-Id', ...Object.keys(response.headers ?? {}), ...limited]
        response.headers = Object.fromEntries(names.map((name) => [name, name in RESPONSE_HEADERS ? { $ref: `#/components/headers/${name}` } : response.headers![name]]))
      }
    }
  }
  return document
}

/** The audience header, on the operations that read it: a login (or sign-up that signs in) and every authenticated one. */
function withAudience (document: Document): Document {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const reads = operation.operationId === 'login' || operation.operationId === 'signUp' || (operation.security ?? []).some((scheme) => 'sessionToken' in scheme)
      if (reads) operation.parameters = [...(operation.parameters ?? []), { $ref: '#/components/parameters/audience' }]
    }
  }
  return document
}

/**
 * An error response that several operations give word for word (the session check's 401, a body's
 * 413 and 415, a 503) is written once, in components.responses, and referenced: over half the
 * document was such copies. Named by status and codes (`401-invalid_token-missing_token-session_expired`).
 */
function withSharedErrors (document: Document): Document {
  const uses = new Map<string, number>()
  const errorResponses = () => Object.values(document.paths ?? {}).flatMap((operations) => Object.values(operations))
    .flatMap((operation) => Object.entries(operation.responses ?? {}).filter(([status]) => /^[45]/.test(status)).map(([status, response]) => ({ operation, status, text: JSON.stringify(response) })))
  for (const { text } of errorResponses()) uses.set(text, (uses.get(text) ?? 0) + 1)
  const names = new Map<string, string>()
  const shared: Record<string, unknown> = {}
  for (const { operation, status, text } of errorResponses()) {
    if (uses.get(text)! < 2) continue
    let name = names.get(text)
    if (name === undefined) {
      const response = JSON.parse(text) as { headers?: Record<string, unknown>, content?: { 'application/json'?: { schema?: { properties?: { error?: { enum?: string[] } } } } } }
      const codes = response.content?.['application/json']?.schema?.properties?.error?.enum ?? []
      const base = [status, ...codes, ...(response.headers?.RateLimit ? ['limited'] : [])].join('-')
      name = base
      for (let n = 2; name in shared; n++) name = `${base}-${n}`
      names.set(text, name)
      shared[name] = JSON.parse(text)
    }
    operation.responses![status] = { $ref: `#/components/responses/${name}` } as never
  }
  document.components = { ...document.components, responses: shared }
  return document
}
