import type { FastifyPluginAsync } from 'fastify'
import type { Services } from '../app.js'
import { requireAuth } from '../http/authenticate.js'
import { errors } from '../http/errors.js'
import { errorBody, userResponse } from '../schemas/index.js'

export const meRoutes: FastifyPluginAsync<Services> = async (app, { users, sessions, authenticate }) => {
  app.get('/me', { onRequest: authenticate, schema: { response: { 200: userResponse, '4xx': errorBody } } }, async (request) => {
    const auth = requireAuth(request)
    const user = await users.findById(auth.userId)
    if (!user) {
      // The account was deleted: its sessions mean nothing any more.
      await sessions.revoke(auth.sessionId)
      throw errors.expiredSession()
    }
    return { user }
  })
}
