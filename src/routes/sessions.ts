import type { FastifyPluginAsync } from 'fastify'
import type { Services } from '../app.js'
import { requireAuth } from '../http/authenticate.js'
import { errors } from '../http/errors.js'
import { type Credentials, errorBody, loginBody, loginResponse } from '../schemas/index.js'
import { MAX_PASSWORD_BYTES } from '../users/passwords.js'

export const sessionRoutes: FastifyPluginAsync<Services> = async (app, { users, passwords, sessions, tokens, authenticate }) => {
  app.post<{ Body: Credentials }>(
    '/sessions',
    { schema: { body: loginBody, response: { 201: loginResponse, '4xx': errorBody } } },
    async (request, reply) => {
      const { email, password } = request.body
      const user = await users.findByEmail(email)
      // An unknown email, or a password no sign-up could have set (bcrypt would compare only its
      // first 72 bytes), is still compared against a dummy hash: every failure costs the same time.
      const usable = user !== null && Buffer.byteLength(password, 'utf8') <= MAX_PASSWORD_BYTES
      const ok = await passwords.verify(password, usable ? user.passwordHash : null)
      if (!ok || !user) throw errors.invalidCredentials()

      const session = await sessions.create(user.id)
      const token = tokens.sign({
        jti: session.id,
        user_id: user.id,
        created_at: session.createdAt,
        iat: Math.floor(session.createdAt / 1000),
        exp: session.maxExpiresAt / 1000,
      })
      const { passwordHash: _, ...publicUser } = user
      return reply.code(201).header('cache-control', 'no-store').send({ user: publicUser, token })
    },
  )

  app.delete(
    '/sessions/current',
    { onRequest: authenticate, schema: { response: { '4xx': errorBody } } },
    async (request, reply) => {
      await sessions.revoke(requireAuth(request).sessionId)
      return reply.code(204).send()
    },
  )
}
