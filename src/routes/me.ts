import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { requireAuth } from '../plugins/authenticate.js'
import { quotaFields } from '../plugins/throttles.js'
import { noContent, userResponse, userView } from '../schemas/common.js'
import { failures } from '../schemas/errors.js'
import { accountDeletionBody, passwordChangeBody } from '../schemas/users.js'

const iso = (ms: number) => new Date(ms).toISOString()

/** Behind `authenticate` (routes/index.ts). */
export const meRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { accounts, sessionCookies: cookies } = app
  // Served from what authenticate's touch has just read: one Redis round trip in all, a
  // confirmation of the email made after the login included (touch-session-6.lua).
  app.get('/me', { schema: { operationId: 'getMe', summary: 'The signed-in user (the session slides)', response: { 200: userResponse } } }, async (request) => {
    const { userId, email, role, userCreatedAt, emailVerifiedAt } = requireAuth(request)
    const verifiedAt = emailVerifiedAt > 0 ? iso(emailVerifiedAt) : null
    return { user: userView({ id: userId, email, role, createdAt: iso(userCreatedAt), emailVerifiedAt: verifiedAt }) }
  })

  app.put(
    '/me/password',
    { schema: { operationId: 'changePassword', summary: 'Change the password (ends every other session)', body: passwordChangeBody, response: { 204: noContent, ...failures('invalid_password', 'too_many_attempts', 'busy', 'overloaded') } } },
    async (request, reply) => {
      const auth = requireAuth(request)
      await accounts.changePassword(auth.userId, auth.sessionId, request.body.current_password, request.body.new_password, request.ip, quotaFields(reply))
      return reply.code(204).send(null)
    }
  )

  // In-app account deletion (App Store guideline 5.1.1(v)), with the password re-entered.
  app.delete(
    '/me',
    { schema: { operationId: 'deleteMe', summary: 'Delete the account, with the password re-entered', body: accountDeletionBody, response: { 204: noContent, ...failures('invalid_password', 'too_many_attempts', 'busy', 'overloaded') } } },
    async (request, reply) => {
      const auth = requireAuth(request)
      const ended = await accounts.deleteOwnAccount(auth.userId, request.body.password, request.ip, quotaFields(reply))
      request.log.info({ userId: auth.userId, ended }, 'a user deleted their account')
      if (auth.transport === 'cookie') cookies.clear(reply)
      return reply.code(204).send(null)
    }
  )
}
