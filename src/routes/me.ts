import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { requireAuth } from '../plugins/authenticate.js'
import { errorBody, noContent, userResponse } from '../schemas/common.js'
import type { Role } from '../users/roles.js'
import { passwordChangeBody } from '../schemas/users.js'

/** Behind `authenticate` (routes/index.ts). */
export const meRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { accounts } = app
  // Served from the session hash that authenticate has just read: one Redis round trip in all.
  app.get('/me', { schema: { response: { 200: userResponse, '4xx': errorBody } } }, async (request) => {
    const { userId, email, role, userCreatedAt } = requireAuth(request)
    // The session hash holds the role Gatehouse copied from the users table at login.
    return { user: { id: userId, email, role: role as Role, createdAt: new Date(userCreatedAt).toISOString() } }
  })

  app.put(
    '/me/password',
    { schema: { body: passwordChangeBody, response: { 204: noContent, '4xx': errorBody } } },
    async (request, reply) => {
      const auth = requireAuth(request)
      await accounts.changePassword(auth.userId, auth.sessionId, request.body.current_password, request.body.new_password, request.ip)
      return reply.code(204).send(null)
    }
  )
}
