import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { requireAuth } from '../plugins/authenticate.js'
import { errors } from '../shared/errors.js'
import { errorBody, noContent, userResponse } from '../schemas/common.js'
import { adminSessionList, revokedCount, sessionPageQuery } from '../schemas/sessions.js'
import { roleChangeBody, userIdParams, userList, userSearchQuery, userSessionParams } from '../schemas/users.js'
import { publicUser } from '../users/repository.js'
import { pageOf, sessionPageView } from './sessions.js'

/**
 * Admin-only: another user's sessions and role. `:id` is a user id in its one canonical spelling
 * (userIdParams), and wherever the user is looked up, the id PostgreSQL returned is what names
 * the Redis keys. Behind `authenticate` and `adminOnly` (routes/index.ts).
 */
export const adminRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { users, sessions, accounts } = app

  // Exact match only (emails are stored lower-cased and trimmed, so any case finds the user): a
  // prefix search would let one request walk the user table.
  app.get(
    '/admin/users',
    { schema: { querystring: userSearchQuery, response: { 200: userList, '4xx': errorBody } } },
    async (request) => {
      const user = await users.findByEmail(request.query.email)
      return { users: user ? [publicUser(user)] : [] }
    }
  )

  app.get(
    '/admin/users/:id/sessions',
    { schema: { params: userIdParams, querystring: sessionPageQuery, response: { 200: adminSessionList, '4xx': errorBody } } },
    async (request) => {
      const user = await users.findById(request.params.id)
      if (!user) throw errors.userNotFound()
      const page = await sessions.list(user.id, pageOf(request.query))
      return { user: publicUser(user), ...sessionPageView(page, requireAuth(request).sessionId) }
    }
  )

  // Works for a deleted user too (no lookup): whatever sessions remain are ended. The schema has
  // already refused every spelling of the id but the one its keys are named with.
  app.delete(
    '/admin/users/:id/sessions',
    { schema: { params: userIdParams, response: { 200: revokedCount, '4xx': errorBody } } },
    async (request) => {
      const userId = request.params.id
      const revoked = await sessions.revokeAll(userId, { reason: 'admin' })
      request.log.info({ adminId: requireAuth(request).userId, userId, revoked }, 'admin ended all sessions of a user')
      return { revoked }
    }
  )

  app.delete(
    '/admin/users/:id/sessions/:session_id',
    { schema: { params: userSessionParams, response: { 204: noContent, '4xx': errorBody } } },
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
    { schema: { params: userIdParams, response: { 200: revokedCount, '4xx': errorBody } } },
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
    { schema: { params: userIdParams, body: roleChangeBody, response: { 200: userResponse, '4xx': errorBody } } },
    async (request) => {
      const adminId = requireAuth(request).userId
      // An admin demoting themselves could lock everyone out of admin; another admin must do it.
      if (request.params.id === adminId) throw errors.conflict('You cannot change your own role')
      const user = await accounts.changeRole(request.params.id, request.body.role)
      if (!user) throw errors.userNotFound()
      request.log.info({ adminId, userId: user.id, role: user.role }, 'admin set a user role')
      return { user }
    }
  )
}
