import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { requireAuth } from '../plugins/authenticate.js'
import { errors } from '../shared/errors.js'
import { noContent, userResponse, userView } from '../schemas/common.js'
import { failures } from '../schemas/errors.js'
import { adminSessionList, revokedCount, sessionPageQuery } from '../schemas/sessions.js'
import { roleChangeBody, userIdParams, userList, userSearchQuery, userSessionParams } from '../schemas/users.js'
import type { SessionSummary } from '../sessions/types.js'
import { publicUser } from '../users/repository.js'
import { CONTAINS_MIN_LENGTH, type UserPage } from '../users/user-list.js'
import { pageOf, sessionPageView } from './sessions.js'

/**
 * Admin-only: another user's sessions and role. `:id` is a user id in its one canonical spelling
 * (userIdParams), and wherever the user is looked up, the id PostgreSQL returned is what names
 * the Redis keys. Behind `authenticate` and `adminOnly` (routes/index.ts).
 */
export const adminRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { users, sessions, accounts } = app

  // Three uses of one route, each a page of `{users, next_cursor}`: the exact lookup (`email`: the
  // one user, or none), a search (`q`: src/users/user-list.ts says how, and why it is bounded at
  // any number of users) and the list (neither). Each user comes with their live sessions counted
  // and their latest use, from Redis in two rounds for the whole page (SessionStore.summaries). If
  // Redis fails, the answer is a 503, as for every other admin read of sessions: the admin's own
  // request needed Redis to be authenticated a moment before, so a page with the counts missing
  // would rarely be seen, and a 0 could be taken for "no sessions".
  app.get(
    '/admin/users',
    {
      schema: {
        operationId: 'findUsers',
        summary: 'List users, search them by part of the email, or find one by exact email',
        description: `Newest first, a page at a time (\`next_cursor\`). \`q\`: emails that contain the text; without ${CONTAINS_MIN_LENGTH} letters or digits in a row, emails that start with it. \`email\`: the one user with exactly this email (any case), not with the others. Each user with \`live_sessions\` and \`last_seen_at\` (docs/api.md).`,
        querystring: userSearchQuery,
        response: { 200: userList, ...failures('unavailable') },
      },
    },
    async (request) => {
      const { email, q, cursor, limit } = request.query
      let page: UserPage
      if (email !== undefined) {
        if (q !== undefined || cursor !== undefined || limit !== undefined) throw errors.badRequest('email is an exact lookup: give it alone, or search with q')
        const user = await users.findByEmail(email)
        page = { users: user ? [publicUser(user)] : [], next: null }
      } else {
        page = await users.list({ query: q, cursor, limit: limit === undefined ? undefined : Number(limit) })
      }
      const summaries = page.users.length === 0 ? new Map<string, SessionSummary>() : await sessions.summaries(page.users.map((user) => user.id))
      return {
        users: page.users.map((user) => {
          const summary = summaries.get(user.id)
          const lastSeenAt = summary?.lastSeenAt ?? null
          return { ...userView(user), live_sessions: summary?.live ?? 0, last_seen_at: lastSeenAt === null ? null : new Date(lastSeenAt).toISOString() }
        }),
        next_cursor: page.next,
      }
    }
  )

  app.get(
    '/admin/users/:id/sessions',
    { schema: { operationId: 'listUserSessions', summary: 'The sessions of a user, a page at a time', params: userIdParams, querystring: sessionPageQuery, response: { 200: adminSessionList, ...failures('user_not_found') } } },
    async (request) => {
      const user = await users.findById(request.params.id)
      if (!user) throw errors.userNotFound()
      const page = await sessions.list(user.id, pageOf(request.query))
      return { user: userView(publicUser(user)), ...sessionPageView(page, requireAuth(request).sessionId) }
    }
  )

  // Works for a deleted user too (no lookup): whatever sessions remain are ended. The schema has
  // already refused every spelling of the id but the one its keys are named with.
  app.delete(
    '/admin/users/:id/sessions',
    { schema: { operationId: 'endUserSessions', summary: 'End every session of a user', params: userIdParams, response: { 200: revokedCount } } },
    async (request) => {
      const userId = request.params.id
      const revoked = await sessions.revokeAll(userId, { reason: 'admin' })
      request.log.info({ adminId: requireAuth(request).userId, userId, revoked }, 'admin ended all sessions of a user')
      return { revoked }
    }
  )

  app.delete(
    '/admin/users/:id/sessions/:session_id',
    { schema: { operationId: 'endUserSession', summary: 'End one session of a user', params: userSessionParams, response: { 204: noContent, ...failures('session_not_found') } } },
    async (request, reply) => {
      const { id: userId, session_id: sessionId } = request.params
      if (!(await sessions.revoke(sessionId, userId, 'admin'))) throw errors.userSessionNotFound()
      request.log.info({ adminId: requireAuth(request).userId, userId, sessionId }, 'admin ended a session of a user')
      return reply.code(204).send(null)
    }
  )

  // As `gatehouse users delete`: sessions ended, mailed tokens gone, a user-deleted event.
  app.delete(
    '/admin/users/:id',
    { schema: { operationId: 'deleteUser', summary: 'Delete a user: sessions ended, mailed tokens gone', params: userIdParams, response: { 200: revokedCount, ...failures('conflict', 'user_not_found') } } },
    async (request) => {
      const adminId = requireAuth(request).userId
      // The way out for oneself is DELETE /me, with the password; not a click in the console.
      if (request.params.id === adminId) throw errors.conflict('You cannot delete your own account here: use DELETE /me')
      const revoked = await accounts.deleteUser(request.params.id, 'admin')
      if (revoked === null) throw errors.userNotFound()
      request.log.info({ adminId, userId: request.params.id, revoked }, 'admin deleted a user')
      return { revoked }
    }
  )

  app.put(
    '/admin/users/:id/role',
    { schema: { operationId: 'setUserRole', summary: 'Set the role of a user (ends their sessions)', params: userIdParams, body: roleChangeBody, response: { 200: userResponse, ...failures('conflict', 'user_not_found', 'busy') } } },
    async (request) => {
      const adminId = requireAuth(request).userId
      // An admin demoting themselves could lock everyone out of admin; another admin must do it.
      if (request.params.id === adminId) throw errors.conflict('You cannot change your own role')
      const user = await accounts.changeRole(request.params.id, request.body.role)
      if (!user) throw errors.userNotFound()
      request.log.info({ adminId, userId: user.id, role: user.role }, 'admin set a user role')
      return { user: userView(user) }
    }
  )
}
