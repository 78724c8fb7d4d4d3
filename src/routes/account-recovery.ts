import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { quotaFields } from '../plugins/throttles.js'
import { errorBody, noContent } from '../schemas/common.js'
import { mailRequestBody, resetConfirmBody, verificationConfirmBody } from '../schemas/users.js'

/** The same 202 for every email: whether it has an account is not the caller's business. */
const accepted = {
  type: 'object',
  required: ['status'],
  additionalProperties: false,
  properties: { status: { type: 'string', enum: ['accepted'], description: 'If the email has an account, a mail is on its way' } },
} as const

/**
 * Password reset and email verification by mailed tokens. Served only with account mail
 * (MAIL_TRANSPORT): without it, these paths are 404 (routes/index.ts).
 */
export const accountRecoveryRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const recovery = app.accounts.recovery
  // No account mail: none of these routes (404).
  if (!recovery) return
  app.post(
    '/password-resets',
    { schema: { body: mailRequestBody, response: { 202: accepted, '4xx': errorBody } } },
    async (request, reply) => {
      await recovery.requestPasswordReset(request.body.email, request.ip, quotaFields(reply))
      return reply.code(202).send({ status: 'accepted' })
    }
  )

  app.post(
    '/password-resets/confirm',
    { schema: { body: resetConfirmBody, response: { 204: noContent, '4xx': errorBody } } },
    async (request, reply) => {
      await recovery.confirmPasswordReset(request.body.token, request.body.password, request.ip, quotaFields(reply))
      return reply.code(204).send(null)
    }
  )

  app.post(
    '/email-verifications',
    { schema: { body: mailRequestBody, response: { 202: accepted, '4xx': errorBody } } },
    async (request, reply) => {
      await recovery.requestVerification(request.body.email, request.ip, quotaFields(reply))
      return reply.code(202).send({ status: 'accepted' })
    }
  )

  app.post(
    '/email-verifications/confirm',
    { schema: { body: verificationConfirmBody, response: { 204: noContent, '4xx': errorBody } } },
    async (request, reply) => {
      await recovery.confirmVerification(request.body.token, request.ip, quotaFields(reply))
      return reply.code(204).send(null)
    }
  )
}
