import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { AUDIENCE_PATTERN } from '@gatehouse/session-reader/token'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { LoginResult } from '../core/login.js'
import { deviceLabel, utf8HeaderValue } from '../http/device-label.js'
import { quotaFields } from '../plugins/throttles.js'
import { errors } from '../shared/errors.js'
import { userView } from '../schemas/common.js'
import { failures } from '../schemas/errors.js'
import { loginBody, loginHeaders, loginResponse } from '../schemas/sessions.js'
import type { Device } from '../sessions/types.js'

/** Long enough to tell browsers and app builds apart; a User-Agent can be kilobytes. */
const MAX_USER_AGENT_LENGTH = 256

/** POST /sessions: a login, answered with a token (or, for a web app, a session cookie). */
export const loginRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { accounts, config } = app
  app.post(
    '/sessions',
    // Its answer holds the token or the CSRF token: never compressed (src/http/compression.ts).
    { config: { carriesSecret: true }, schema: { operationId: 'login', summary: 'Log in: a new session and its token (or cookie)', body: loginBody, headers: loginHeaders, response: { 201: loginResponse, ...failures('invalid_credentials', 'email_unverified', 'csrf_rejected', 'too_many_attempts', 'busy', 'overloaded', 'unavailable') } } },
    async (request, reply) => {
      const { email, password, client } = request.body
      const wanted = transportOf(app, request, request.body.transport)
      const audience = audienceOf(request, config.jwt.audienceHeader)
      const result = await accounts.login(email, password, deviceOf(request, client), audience, quotaFields(reply))
      return answerWithSession(app, request, reply, result, wanted)
    }
  )
}

/** The transport a login asked for (or the default); for the cookie, only from a page of a known site. */
export function transportOf (app: FastifyInstance, request: FastifyRequest, asked: 'header' | 'cookie' | undefined): 'header' | 'cookie' {
  const wanted = asked ?? app.config.cookies.defaultTransport
  // No cookie for a page of a site we do not know: that would be login CSRF.
  if (wanted === 'cookie') app.sessionCookies.checkOrigin(request)
  return wanted
}

/**
 * 201 with a new session, as a login and a sign-up with `sign_in` answer: the token (or the
 * cookie and its CSRF token) and the session's clock, so an app knows when it will end.
 */
export function answerWithSession (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, result: LoginResult, transport: 'header' | 'cookie') {
  const { user, token, evicted, maxAgeSeconds } = result
  if (evicted.length > 0) request.log.info({ userId: user.id, evicted: evicted.length }, 'session cap reached: least recently used sessions ended')
  reply.code(201).header('cache-control', 'no-store')
  const clock = {
    expires_at: new Date(result.expiresAt).toISOString(),
    max_expires_at: new Date(result.maxExpiresAt).toISOString(),
    idle_timeout_seconds: result.idleTimeoutSeconds,
  }
  if (transport === 'header') return reply.send({ user: userView(user), token, ...clock })
  return reply.send({ user: userView(user), csrf_token: app.sessionCookies.set(reply, token, maxAgeSeconds), ...clock })
}

/**
 * The audience a client binds its token to by naming it at login (JWT_AUD_HEADER, as devise-jwt's
 * `aud_header`); null when it names none. A malformed one is refused, not ignored: the client
 * asked for a binding it would not get.
 */
export function audienceOf (request: FastifyRequest, header: string): string | null {
  const value = request.headers[header]
  if (value === undefined) return null
  if (typeof value !== 'string' || !AUDIENCE_PATTERN.test(value)) {
    throw errors.badRequest(`${header} must be 1-128 letters, digits and . _ : / - (the audience the token is bound to)`)
  }
  return value
}

/**
 * Body `client` wins over the X-Client header; both are read by the one rule of deviceLabel, and
 * a header with a control character is refused even when the body's label wins, as it would be
 * alone. The address honours TRUST_PROXY.
 */
export function deviceOf (request: FastifyRequest, client: string | undefined): Device {
  const header = request.headers['x-client']
  // Node joins repeated X-Client headers with ', ' already; an array is only possible in theory.
  const fromHeader = header === undefined ? undefined : deviceLabel(utf8HeaderValue(Array.isArray(header) ? header.join(', ') : header), 'headers/x-client')
  const fromBody = client === undefined ? undefined : deviceLabel(client, 'body/client')
  return {
    client: fromBody ?? fromHeader ?? '',
    userAgent: (request.headers['user-agent'] ?? '').slice(0, MAX_USER_AGENT_LENGTH),
    ip: request.ip,
  }
}
