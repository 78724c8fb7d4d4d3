import type { FastifyPluginAsync } from 'fastify'
import type { Services } from '../app.js'
import { type Credentials, errorBody, signUpBody, userResponse } from '../schemas/index.js'
import { checkPasswordBytes } from '../users/passwords.js'

export const userRoutes: FastifyPluginAsync<Services> = async (app, { users, passwords, throttles }) => {
  app.post<{ Body: Credentials }>(
    '/users',
    { schema: { body: signUpBody, response: { 201: userResponse, '4xx': errorBody } } },
    async (request, reply) => {
      const { email, password } = request.body
      // Every attempt counts, a 409 too: that keeps probing which emails have accounts slow.
      await throttles.signUp(request.ip)
      checkPasswordBytes('password', password)
      const user = await users.create(email, await passwords.hash(password))
      return reply.code(201).send({ user })
    }
  )
}
