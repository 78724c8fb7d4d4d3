import type { FastifyPluginAsync } from 'fastify'
import { type Credentials, errorBody, signUpBody, userResponse } from '../schemas/index.js'

export const userRoutes: FastifyPluginAsync = async (app) => {
  const { accounts } = app
  app.post<{ Body: Credentials }>(
    '/users',
    { schema: { body: signUpBody, response: { 201: userResponse, '4xx': errorBody } } },
    async (request, reply) => {
      const { email, password } = request.body
      const user = await accounts.signUp(email, password, request.ip)
      return reply.code(201).send({ user })
    }
  )
}
