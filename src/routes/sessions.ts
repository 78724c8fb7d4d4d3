import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { requireAuth } from '../plugins/authenticate.js'
import { errors } from '../shared/errors.js'
import type { SessionInfo, SessionPage } from '../sessions/types.js'
import { noContent } from '../schemas/common.js'
import { failures } from '../schemas/errors.js'
import { revokeAllQuery, revokedCount, sessionIdParams, sessionList, type SessionPageQuery, sessionPageQuery } from '../schemas/sessions.js'

/** The caller's own sessions. Behind `authenticate` (routes/index.ts). */
export const sessionRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { sessions, sessionCookies: cookies } = app
  app.get(
    '/sessions',
    { schema: { operationId: 'listSessions', summary: 'The sessions of the caller (the device list), a page at a time', querystring: sessionPageQuery, response: { 200: sessionList } } },
    async (request) => {
      const auth = requireAuth(request)
      // The caller's own session first, then the others newest first (stable while paged).
      return sessionPageView(await sessions.list(auth.userId, { ...pageOf(request.query), current: auth.sessionId }), auth.sessionId)
    }
  )

  /** After the caller's own session ended: a browser's cookies go with it. */
  const forgetCookies = (request: FastifyRequest, reply: FastifyReply) => {
    if (requireAuth(request).transport === 'cookie') cookies.clear(reply)
  }

  app.delete('/sessions/current', { schema: { operationId: 'logout', summary: 'Log out: end this session', response: { 204: noContent } } }, async (request, reply) => {
    const auth = requireAuth(request)
    await sessions.revoke(auth.sessionId, auth.userId, 'logout', true)
    forgetCookies(request, reply)
    return reply.code(204).send(null)
  })

  app.delete(
    '/sessions/:id',
    { schema: { operationId: 'endSession', summary: 'End one session of the caller', params: sessionIdParams, response: { 204: noContent, ...failures('session_not_found') } } },
    async (request, reply) => {
      const auth = requireAuth(request)
      if (!(await sessions.revoke(request.params.id, auth.userId, 'logout', request.params.id === auth.sessionId))) throw errors.sessionNotFound()
      if (request.params.id === auth.sessionId) forgetCookies(request, reply)
      return reply.code(204).send(null)
    }
  )

  app.delete(
    '/sessions',
    { schema: { operationId: 'endOtherSessions', summary: 'End the other sessions of the caller (or all, with all=true)', querystring: revokeAllQuery, response: { 200: revokedCount } } },
    async (request, reply) => {
      const auth = requireAuth(request)
      const all = request.query.all === 'true'
      const revoked = await sessions.revokeAll(auth.userId, { reason: 'revoke-all', keep: all ? undefined : auth.sessionId })
      if (all) forgetCookies(request, reply)
      return { revoked }
    }
  )
}

/** A session as the API shows it: ISO times, snake_case like the Redis fields. */
function sessionView (session: SessionInfo, currentId?: string) {
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
