import type { FastifyPluginAsync } from 'fastify'
import { requireAuth } from '../plugins/authenticate.js'
import { errorBody, type PasswordChange, passwordChangeBody, userResponse } from '../schemas/index.js'

/** Behind `authenticate` (routes/index.ts). */
export const meRoutes: FastifyPluginAsync = async (app) => {
  const { accounts } = app
  // Served from the session hash that authenticate has just read: one Redis round trip in all.
  app.get('/me', { schema: { response: { 200: userResponse, '4xx': errorBody } } }, async (request) => {
    const { userId, email, role, userCreatedAt } = requireAuth(request)
    return { user: { id: userId, email, role, createdAt: new Date(userCreatedAt).toISOString() } }
  })

  app.put<{ Body: PasswordChange }>(
    '/me/password',
    { schema: { body: passwordChangeBody, response: { '4xx': errorBody } } },
    async (request, reply) => {
      const auth = requireAuth(request)
      await accounts.changePassword(auth.userId, auth.sessionId, request.body.current_password, request.body.new_password, request.ip)
      return reply.code(204).send()
    }
  )
}
