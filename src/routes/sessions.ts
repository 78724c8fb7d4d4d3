import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Services } from '../app.js'
import { requireAuth } from '../http/authenticate.js'
import { errors } from '../http/errors.js'
import type { Device, SessionInfo, SessionPage } from '../sessions/store.js'
import {
  errorBody,
  type LoginBody,
  loginBody,
  loginHeaders,
  loginResponse,
  revokeAllQuery,
  revokedCount,
  sessionIdParams,
  sessionList,
  type SessionPageQuery,
  sessionPageQuery,
} from '../schemas/index.js'

/** Long enough to tell browsers and app builds apart; a User-Agent can be kilobytes. */
const MAX_USER_AGENT_LENGTH = 256

export const sessionRoutes: FastifyPluginAsync<Services> = async (app, { login, sessions, authenticate, cookies, transport }) => {
  app.post<{ Body: LoginBody; Headers: { 'x-client'?: string } }>(
    '/sessions',
    { schema: { body: loginBody, headers: loginHeaders, response: { 201: loginResponse, '4xx': errorBody } } },
    async (request, reply) => {
      const { email, password, client } = request.body
      const wanted = request.body.transport ?? transport
      // No cookie for a page of a site we do not know: that would be login CSRF.
      if (wanted === 'cookie') cookies.checkOrigin(request)
      const { user, token, evicted, maxAgeSeconds } = await login(email, password, deviceOf(request, client))
      if (evicted.length > 0) request.log.info({ userId: user.id, evicted: evicted.length }, 'session cap reached: least recently used sessions ended')
      reply.code(201).header('cache-control', 'no-store')
      if (wanted === 'header') return reply.send({ user, token })
      return reply.send({ user, csrf_token: cookies.set(reply, token, maxAgeSeconds) })
    }
  )

  app.get<{ Querystring: SessionPageQuery }>(
    '/sessions',
    { onRequest: authenticate, schema: { querystring: sessionPageQuery, response: { 200: sessionList, '4xx': errorBody } } },
    async (request) => {
      const auth = requireAuth(request)
      return sessionPageView(await sessions.list(auth.userId, pageOf(request.query)), auth.sessionId)
    }
  )

  /** After the caller's own session ended: a browser's cookies go with it. */
  const forgetCookies = (request: FastifyRequest, reply: FastifyReply) => {
    if (requireAuth(request).transport === 'cookie') cookies.clear(reply)
  }

  app.delete('/sessions/current', { onRequest: authenticate, schema: { response: { '4xx': errorBody } } }, async (request, reply) => {
    const auth = requireAuth(request)
    await sessions.revoke(auth.sessionId, auth.userId, 'logout')
    forgetCookies(request, reply)
    return reply.code(204).send()
  })

  app.delete<{ Params: { id: string } }>(
    '/sessions/:id',
    { onRequest: authenticate, schema: { params: sessionIdParams, response: { '4xx': errorBody } } },
    async (request, reply) => {
      const auth = requireAuth(request)
      if (!(await sessions.revoke(request.params.id, auth.userId, 'logout'))) throw errors.sessionNotFound()
      if (request.params.id === auth.sessionId) forgetCookies(request, reply)
      return reply.code(204).send()
    }
  )

  app.delete<{ Querystring: { all?: 'true' | 'false' } }>(
    '/sessions',
    { onRequest: authenticate, schema: { querystring: revokeAllQuery, response: { 200: revokedCount, '4xx': errorBody } } },
    async (request, reply) => {
      const auth = requireAuth(request)
      const all = request.query.all === 'true'
      const revoked = await sessions.revokeAll(auth.userId, { reason: 'revoke-all', keep: all ? undefined : auth.sessionId })
      if (all) forgetCookies(request, reply)
      return { revoked }
    }
  )
}

/** Body `client` wins over the X-Client header; the address honours TRUST_PROXY. */
function deviceOf (request: FastifyRequest<{ Headers: { 'x-client'?: string } }>, client: string | undefined): Device {
  return {
    client: client ?? request.headers['x-client'] ?? '',
    userAgent: (request.headers['user-agent'] ?? '').slice(0, MAX_USER_AGENT_LENGTH),
    ip: request.ip,
  }
}

/** A session as the API shows it: ISO times, snake_case like the Redis fields. */
export function sessionView (session: SessionInfo, currentId?: string) {
  const iso = (ms: number) => new Date(ms).toISOString()
  return {
    id: session.id,
    current: session.id === currentId,
    client: session.client,
    user_agent: session.userAgent,
    ip: session.ip,
    created_at: iso(session.createdAt),
    last_seen_at: iso(session.lastSeenAt),
    expires_at: iso(session.expiresAt),
    max_expires_at: iso(session.maxExpiresAt),
  }
}

/** A listing's query, as the store takes it (the schema has checked both). */
export function pageOf (query: SessionPageQuery) {
  return { limit: query.limit === undefined ? undefined : Number(query.limit), after: query.cursor }
}

/** A page of sessions as the API shows it. */
export function sessionPageView (page: SessionPage, currentId?: string) {
  return { sessions: page.sessions.map((s) => sessionView(s, currentId)), next_cursor: page.next }
}
