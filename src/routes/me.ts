import type { FastifyPluginAsync } from 'fastify'
import type { Services } from '../app.js'
import { requireAuth } from '../http/authenticate.js'
import { errorBody, type PasswordChange, passwordChangeBody, userResponse } from '../schemas/index.js'
import { requireLiveUser } from '../users/account.js'
import { publicUser } from '../users/repository.js'

export const meRoutes: FastifyPluginAsync<Services> = async (app, { users, sessions, account, authenticate }) => {
  app.get('/me', { onRequest: authenticate, schema: { response: { 200: userResponse, '4xx': errorBody } } }, async (request) => {
    return { user: publicUser(await requireLiveUser({ users, sessions }, requireAuth(request).userId)) }
  })

  app.put<{ Body: PasswordChange }>(
    '/me/password',
    { onRequest: authenticate, schema: { body: passwordChangeBody, response: { '4xx': errorBody } } },
    async (request, reply) => {
      const auth = requireAuth(request)
      await account.changePassword(auth.userId, auth.sessionId, request.body.current_password, request.body.new_password, request.ip)
      return reply.code(204).send()
    },
  )
}
