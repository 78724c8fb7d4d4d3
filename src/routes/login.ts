import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { AUDIENCE_PATTERN } from '@gatehouse/session-reader/token'
import type { FastifyRequest } from 'fastify'
import { errors } from '../shared/errors.js'
import { errorBody } from '../schemas/common.js'
import { loginBody, loginHeaders, loginResponse } from '../schemas/sessions.js'
import type { Device } from '../sessions/store.js'

/** Long enough to tell browsers and app builds apart; a User-Agent can be kilobytes. */
const MAX_USER_AGENT_LENGTH = 256

/** POST /sessions: a login, answered with a token (or, for a web app, a session cookie). */
export const loginRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { accounts, sessionCookies: cookies, config } = app
  app.post(
    '/sessions',
    { schema: { body: loginBody, headers: loginHeaders, response: { 201: loginResponse, '4xx': errorBody } } },
    async (request, reply) => {
      const { email, password, client } = request.body
      const wanted = request.body.transport ?? config.cookies.defaultTransport
      // No cookie for a page of a site we do not know: that would be login CSRF.
      if (wanted === 'cookie') cookies.checkOrigin(request)
      const audience = audienceOf(request, config.jwt.audienceHeader)
      const { user, token, evicted, maxAgeSeconds } = await accounts.login(email, password, deviceOf(request, client), audience)
      if (evicted.length > 0) request.log.info({ userId: user.id, evicted: evicted.length }, 'session cap reached: least recently used sessions ended')
      reply.code(201).header('cache-control', 'no-store')
      if (wanted === 'header') return reply.send({ user, token })
      return reply.send({ user, csrf_token: cookies.set(reply, token, maxAgeSeconds) })
    }
  )
}

/**
 * The audience a client binds its token to by naming it at login (JWT_AUD_HEADER, as devise-jwt's
 * `aud_header`); null when it names none. A malformed one is refused, not ignored: the client
 * asked for a binding it would not get.
 */
function audienceOf (request: FastifyRequest, header: string): string | null {
  const value = request.headers[header]
  if (value === undefined) return null
  if (typeof value !== 'string' || !AUDIENCE_PATTERN.test(value)) {
    throw errors.badRequest(`${header} must be 1-128 letters, digits and . _ : / - (the audience the token is bound to)`)
  }
  return value
}

/** Body `client` wins over the X-Client header; the address honours TRUST_PROXY. */
function deviceOf (request: FastifyRequest, client: string | undefined): Device {
  return {
    // The schema has checked the header against the same pattern as the body's `client`.
    client: client ?? (request.headers['x-client'] as string | undefined) ?? '',
    userAgent: (request.headers['user-agent'] ?? '').slice(0, MAX_USER_AGENT_LENGTH),
    ip: request.ip,
  }
}
