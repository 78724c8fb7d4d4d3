import type { FastifyPluginAsync, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { type AuthenticateOptions, authenticateRequest } from './authenticate.js'
import type { LiveSession } from './reader.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's live Gatehouse session, set by `gatehouseAuthenticate`; null elsewhere. */
    gatehouse: LiveSession | null
  }
  interface FastifyInstance {
    /** onRequest hook for the routes that need a signed-in caller: 401/403/503 exactly as Gatehouse answers. */
    gatehouseAuthenticate: onRequestAsyncHookHandler
  }
}

export type GatehouseFastifyOptions = AuthenticateOptions

/**
 * Registers `request.gatehouse` and the `gatehouseAuthenticate` hook:
 *
 *   await app.register(gatehouseSessions, { reader })
 *   app.get('/me', { onRequest: app.gatehouseAuthenticate }, async (request) => request.gatehouse)
 */
const plugin: FastifyPluginAsync<GatehouseFastifyOptions> = async (app, options) => {
  const authenticate = authenticateRequest({ onFault: (err) => app.log.warn({ err }, err.message), ...options })
  app.decorateRequest('gatehouse', null)
  app.decorate('gatehouseAuthenticate', async function gatehouseAuthenticate (request, reply) {
    const outcome = await authenticate(request)
    if (outcome.ok) {
      request.gatehouse = outcome.session
      reply.header('cache-control', 'no-store')
      return
    }
    const { status, headers, body } = outcome.answer
    return reply.code(status).headers(headers).send(body)
  } satisfies onRequestAsyncHookHandler)
}

export const gatehouseSessions = fp(plugin, { fastify: '5.x', name: '@gatehouse/session-reader' })
export default gatehouseSessions
