import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { quotaFields } from '../plugins/throttles.js'
import { noContent } from '../schemas/common.js'
import { failures } from '../schemas/errors.js'
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
    { schema: { operationId: 'requestPasswordReset', summary: 'Mail a password reset link', body: mailRequestBody, response: { 202: accepted, ...failures('too_many_attempts', 'unavailable') } } },
    async (request, reply) => {
      await recovery.requestPasswordReset(request.body.email, request.ip, quotaFields(reply))
      return reply.code(202).send({ status: 'accepted' })
    }
  )

  app.post(
    '/password-resets/confirm',
    { schema: { operationId: 'confirmPasswordReset', summary: 'Set a new password with a mailed reset token', body: resetConfirmBody, response: { 204: noContent, ...failures('invalid_reset_token', 'too_many_attempts', 'busy', 'overloaded', 'unavailable') } } },
    async (request, reply) => {
      await recovery.confirmPasswordReset(request.body.token, request.body.password, request.ip, quotaFields(reply))
      return reply.code(204).send(null)
    }
  )

  app.post(
    '/email-verifications',
    { schema: { operationId: 'requestEmailVerification', summary: 'Mail an email verification link', body: mailRequestBody, response: { 202: accepted, ...failures('too_many_attempts', 'unavailable') } } },
    async (request, reply) => {
      await recovery.requestVerification(request.body.email, request.ip, quotaFields(reply))
      return reply.code(202).send({ status: 'accepted' })
    }
  )

  app.post(
    '/email-verifications/confirm',
    { schema: { operationId: 'confirmEmailVerification', summary: 'Confirm the email with a mailed verification token', body: verificationConfirmBody, response: { 204: noContent, ...failures('invalid_verification_token', 'too_many_attempts', 'unavailable') } } },
    async (request, reply) => {
      await recovery.confirmVerification(request.body.token, request.ip, quotaFields(reply))
      return reply.code(204).send(null)
    }
  )
}
