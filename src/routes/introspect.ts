import { createHash, timingSafeEqual } from 'node:crypto'
import formBody from '@fastify/formbody'
import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import type { FastifyRequest } from 'fastify'
import { errors } from '../shared/errors.js'
import { failures } from '../schemas/errors.js'
import { introspectionBody, introspectionResponse } from '../schemas/introspection.js'

/**
 * RFC 7662 token introspection, for services that cannot read Redis: is this token's session
 * live, whose is it, with which role. Read-only unless the caller asks for `extend: true`
 * (then it slides the TTL exactly as a request of the user's own would).
 */
export const introspectionRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { tokens, sessions, accounts, metrics } = app
  // INTROSPECTION_TOKENS; none: the endpoint does not exist (404).
  const { introspectionTokens } = app.config
  if (introspectionTokens.length === 0) return
  // RFC 7662 clients send application/x-www-form-urlencoded; JSON is accepted too. Scoped to this plugin.
  await app.register(formBody, { bodyLimit: 8192 })

  // Compared as SHA-256 digests: equal lengths for timingSafeEqual, and no early exit on a match.
  const digest = (value: string) => createHash('sha256').update(value).digest()
  const known = introspectionTokens.map(digest)
  async function requireServiceCredential (request: FastifyRequest) {
    const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')
    const presented = digest(match?.[1] ?? '')
    let ok = false
    for (const candidate of known) ok = timingSafeEqual(candidate, presented) || ok
    if (!match || !ok) throw errors.invalidClient()
  }

  app.post(
    '/introspect',
    { onRequest: requireServiceCredential, schema: { operationId: 'introspect', summary: 'Is the session of this token live (RFC 7662)', security: [{ serviceCredential: [] }], consumes: ['application/x-www-form-urlencoded', 'application/json'], body: introspectionBody, response: { 200: introspectionResponse, ...failures('invalid_client', 'unavailable') } } },
    async (request, reply) => {
      reply.header('cache-control', 'no-store')
      const { token, extend } = request.body
      const answer = await introspect(token, extend === true || extend === 'true')
      metrics.introspections.inc({ result: answer.active ? 'active' : 'inactive' })
      return answer
    }
  )

  async function introspect (token: string, extend: boolean) {
    // Forged, malformed, past exp or signed by an unknown key: simply not active (RFC 7662 §2.2).
    const claims = tokens.check(token)
    if (!claims) return { active: false }
    const reach = tokens.reachOf(claims)
    if (extend && !(await sessions.touch(claims.jti, claims.user_id, reach))) return { active: false }
    const live = await sessions.peek(claims.jti, claims.user_id, reach)
    if (!live) return { active: false }
    // null: the session's user was deleted meanwhile, and the session has just been ended.
    const user = await accounts.sessionUser(claims.jti, claims.user_id, live)
    if (!user) return { active: false }
    return {
      active: true,
      sub: claims.user_id,
      user_id: claims.user_id,
      role: user.role,
      jti: claims.jti,
      ...(claims.iss !== undefined && { iss: claims.iss }),
      ...(claims.aud !== undefined && { aud: claims.aud }),
      token_type: 'access_token' as const,
      iat: claims.iat,
      exp: claims.exp,
      created_at: live.createdAt,
      last_seen_at: live.lastSeenAt,
      expires_at: live.expiresAt,
    }
  }
}
