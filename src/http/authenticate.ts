import type { onRequestAsyncHookHandler } from 'fastify'
import type { SessionStore } from '../sessions/store.js'
import type { TokenService } from '../tokens/tokens.js'
import { MAX_TOKEN_LENGTH, parseTokenHeader } from './auth-header.js'
import { errors } from './errors.js'

/** Who is calling, set on `request.auth` by `authenticate`. */
export interface Auth {
  sessionId: string
  userId: string
  /** Unix ms. */
  createdAt: number
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: Auth | null
  }
}

/**
 * The gate of every authenticated route (run as onRequest, before the body is even read):
 * a genuine token, then a live session in Redis, whose TTL slides in the same round trip.
 * Any failure, including Redis being down, ends the request; nothing is authenticated on an
 * error path.
 */
export function createAuthenticate(tokens: TokenService, sessions: SessionStore): onRequestAsyncHookHandler {
  return async function authenticate(request) {
    const token = parseTokenHeader(request.headers.authorization)
    if (token === null) throw errors.missingToken()
    if (token.length > MAX_TOKEN_LENGTH) throw errors.invalidToken()
    const claims = tokens.verify(token)
    if (!(await sessions.touch(claims.jti, claims.user_id))) throw errors.expiredSession()
    request.auth = { sessionId: claims.jti, userId: claims.user_id, createdAt: claims.created_at }
  }
}

/** For handlers behind `authenticate`: the caller, which is always set there. */
export function requireAuth(request: { auth: Auth | null }): Auth {
  if (!request.auth) throw errors.missingToken()
  return request.auth
}
