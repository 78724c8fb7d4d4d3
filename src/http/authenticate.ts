import type { onRequestAsyncHookHandler } from 'fastify'
import type { Metrics } from '../metrics.js'
import type { SessionStore } from '../sessions/store.js'
import type { TokenService } from '../tokens/tokens.js'
import { requireLiveUser } from '../users/account.js'
import type { UserRepository } from '../users/repository.js'
import { MAX_TOKEN_LENGTH, parseTokenHeader } from './auth-header.js'
import { errors } from './errors.js'

/** Who is calling, set on `request.auth` by `authenticate`. */
export interface Auth {
  sessionId: string
  userId: string
  /** Unix ms. */
  createdAt: number
  /** From the session hash: current, since a role change ends the user's sessions. */
  role: string
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: Auth | null
  }
}

export interface AuthenticateDeps {
  tokens: TokenService
  sessions: SessionStore
  users: UserRepository
  metrics: Pick<Metrics, 'touched'>
}

/**
 * The gate of every authenticated route (run as onRequest, before the body is even read):
 * a genuine token, then a live session in Redis, whose TTL slides in the same round trip.
 * Any failure, including Redis being down, ends the request; nothing is authenticated on an
 * error path.
 */
export function createAuthenticate({ tokens, sessions, users, metrics }: AuthenticateDeps): onRequestAsyncHookHandler {
  return async function authenticate(request, reply) {
    // Answers to authenticated requests are the caller's own (sessions, addresses): never cached.
    reply.header('cache-control', 'no-store')
    const token = parseTokenHeader(request.headers.authorization)
    if (token === null) throw errors.missingToken()
    if (token.length > MAX_TOKEN_LENGTH) throw errors.invalidToken()
    const claims = tokens.verify(token)
    const live = await sessions.touch(claims.jti, claims.user_id)
    metrics.touched(live ? 'ok' : 'gone')
    if (!live) throw errors.expiredSession()
    const role = await roleOf({ users, sessions }, claims.jti, claims.user_id, live.role)
    request.auth = { sessionId: claims.jti, userId: claims.user_id, createdAt: claims.created_at, role }
  }
}

/**
 * The role of a live session. A layout-1 session, from before roles, has none ('') and is
 * upgraded once, at its first use; if its user was deleted, it ends (401 `session_expired`).
 */
export async function roleOf(deps: Pick<AuthenticateDeps, 'users' | 'sessions'>, sessionId: string, userId: string, role: string): Promise<string> {
  if (role !== '') return role
  const user = await requireLiveUser(deps, userId)
  await deps.sessions.upgrade(sessionId, userId, user.role)
  return user.role
}

/** For handlers behind `authenticate`: the caller, which is always set there. */
export function requireAuth(request: { auth: Auth | null }): Auth {
  if (!request.auth) throw errors.missingToken()
  return request.auth
}

/** onRequest hook, after `authenticate`: admins only. */
export const adminOnly: onRequestAsyncHookHandler = async (request) => {
  if (requireAuth(request).role !== 'admin') throw errors.forbidden()
}
