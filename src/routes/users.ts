import type { FastifyPluginAsync } from 'fastify'
import type { Services } from '../app.js'
import { errors } from '../http/errors.js'
import { type Credentials, errorBody, signUpBody, userResponse } from '../schemas/index.js'
import { MAX_PASSWORD_BYTES } from '../users/passwords.js'

export const userRoutes: FastifyPluginAsync<Services> = async (app, { users, passwords }) => {
  app.post<{ Body: Credentials }>(
    '/users',
    { schema: { body: signUpBody, response: { 201: userResponse, '4xx': errorBody } } },
    async (request, reply) => {
      const { email, password } = request.body
      if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
        throw errors.badRequest(`body/password must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores anything longer)`)
      }
      const user = await users.create(email, await passwords.hash(password))
      return reply.code(201).send({ user })
    },
  )
}
