import type { FastifyPluginAsync } from 'fastify'
import type { Services } from '../app.js'
import { type Credentials, errorBody, signUpBody, userResponse } from '../schemas/index.js'
import { checkPasswordBytes } from '../users/passwords.js'

export const userRoutes: FastifyPluginAsync<Services> = async (app, { users, passwords }) => {
  app.post<{ Body: Credentials }>(
    '/users',
    { schema: { body: signUpBody, response: { 201: userResponse, '4xx': errorBody } } },
    async (request, reply) => {
      const { email, password } = request.body
      checkPasswordBytes('password', password)
      const user = await users.create(email, await passwords.hash(password))
      return reply.code(201).send({ user })
    },
  )
}
