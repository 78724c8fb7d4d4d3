import type { FastifyPluginAsync, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { type AuthenticateOptions, authenticateRequest } from './authenticate.js'
import type { SessionSnapshot } from './reader.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's live Gatehouse session, set by `gatehouseAuthenticate`; null elsewhere. */
    gatehouse: SessionSnapshot | null
  }
  interface FastifyInstance {
    /** onRequest hook for the routes that need a signed-in caller: 401/403/503 exactly as Gatehouse answers. */
    gatehouseAuthenticate: onRequestAsyncHookHandler
  }
}

export type GatehouseFastifyOptions = AuthenticateOptions

/**
 * The live session of a request that passed `gatehouseAuthenticate`, typed as present (the
 * decorator is null on other routes, and typed so). Throws (a 500, never a pass) on a route the
 * hook does not guard: a mistake in the service's routing.
 *
 *   app.get('/me', { onRequest: app.gatehouseAuthenticate }, async (request) => sessionOf(request))
 */
export function sessionOf (request: { gatehouse: SessionSnapshot | null }): SessionSnapshot {
  if (request.gatehouse === null) throw new Error('no Gatehouse session on this request: add onRequest: app.gatehouseAuthenticate to this route')
  return request.gatehouse
}

/**
 * Registers `request.gatehouse` and the `gatehouseAuthenticate` hook:
 *
 *   await app.register(gatehouseSessions, { reader })
 *   app.get('/me', { onRequest: app.gatehouseAuthenticate }, async (request) => sessionOf(request))
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
