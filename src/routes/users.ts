import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { errorBody, userResponse } from '../schemas/common.js'
import { signUpBody } from '../schemas/users.js'

export const userRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { accounts } = app
  app.post(
    '/users',
    { schema: { body: signUpBody, response: { 201: userResponse, '4xx': errorBody } } },
    async (request, reply) => {
      const { email, password } = request.body
      const user = await accounts.signUp(email, password, request.ip)
      return reply.code(201).send({ user })
    }
  )
}
