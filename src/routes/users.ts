import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { quotaFields } from '../plugins/throttles.js'
import { userView } from '../schemas/common.js'
import { failures } from '../schemas/errors.js'
import { signUpBody, signUpHeaders, signUpResponse } from '../schemas/users.js'
import { answerWithSession, audienceOf, deviceOf, transportOf } from './login.js'

export const userRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { accounts, config } = app
  app.post(
    '/users',
    // X-Client and `client` are read only for a sign-in (deviceOf): a plain sign-up ignores them.
    // With sign_in, its answer holds the token or the CSRF token: never compressed (src/http/compression.ts).
    { config: { carriesSecret: true }, schema: { operationId: 'signUp', summary: 'Create an account (and with sign_in, its first session)', body: signUpBody, headers: signUpHeaders, response: { 201: signUpResponse, ...failures('email_taken', 'csrf_rejected', 'too_many_attempts', 'busy', 'overloaded', 'unavailable') } } },
    async (request, reply) => {
      const { email, password, sign_in: signIn, client } = request.body
      // Checked before the account exists: a sign-in that could not be answered must not leave one behind.
      const signInAs = signIn === true
        ? { transport: transportOf(app, request, request.body.transport), device: deviceOf(request, client), audience: audienceOf(request, config.jwt.audienceHeader) }
        : undefined
      const { user, session } = await accounts.signUp(email, password, request.ip, signInAs, quotaFields(reply))
      if (session && signInAs) return answerWithSession(app, request, reply, session, signInAs.transport)
      return reply.code(201).send({ user: userView(user) })
    }
  )
}
