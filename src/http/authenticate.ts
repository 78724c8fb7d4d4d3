import type { onRequestAsyncHookHandler } from 'fastify'
import type { Metrics } from '../metrics.js'
import type { LiveSession, SessionStore, SessionUser } from '../sessions/store.js'
import type { TokenService } from '../tokens/tokens.js'
import { requireLiveUser } from '../users/account.js'
import type { UserRepository } from '../users/repository.js'
import { MAX_TOKEN_LENGTH, parseTokenHeader } from './auth-header.js'
import { AppError, errors } from './errors.js'
import type { SessionCookies } from './session-cookie.js'

/** Who is calling, set on `request.auth` by `authenticate`. */
export interface Auth {
  sessionId: string
  userId: string
  /** Unix ms. */
  createdAt: number
  /** From the session hash: current, since a role change ends the user's sessions. */
  role: string
  /** From the session hash too (there is no way to change an email), so GET /me needs no database. */
  email: string
  /** When the user signed up, Unix ms. */
  userCreatedAt: number
  /** How the token came: the Authorization header, or the web app's session cookie. */
  transport: 'header' | 'cookie'
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
  cookies: SessionCookies
}

/**
 * The gate of every authenticated route (run as onRequest, before the body is even read):
 * a genuine token, then a live session in Redis, whose TTL slides in the same round trip.
 * Any failure, including Redis being down, ends the request; nothing is authenticated on an
 * error path. The token comes from the Authorization header or, failing that, from the session
 * cookie; with the cookie, a request that changes state must also pass the CSRF check, before
 * the session is touched.
 */
export function createAuthenticate ({ tokens, sessions, users, metrics, cookies }: AuthenticateDeps): onRequestAsyncHookHandler {
  return async function authenticate (request, reply) {
    // Answers to authenticated requests are the caller's own (sessions, addresses): never cached.
    reply.header('cache-control', 'no-store')
    const header = parseTokenHeader(request.headers.authorization)
    const token = header ?? cookies.tokenOf(request)
    if (token === undefined) throw errors.missingToken()
    const transport = header === null ? 'cookie' : 'header'
    try {
      if (token.length > MAX_TOKEN_LENGTH) throw errors.invalidToken()
      const claims = tokens.verify(token)
      if (transport === 'cookie') cookies.checkCsrf(request, token)
      const live = await sessions.touch(claims.jti, claims.user_id)
      metrics.touched(live ? 'ok' : 'gone')
      if (!live) throw errors.expiredSession()
      const user = await sessionUser({ users, sessions }, claims.jti, claims.user_id, live)
      request.auth = { sessionId: claims.jti, userId: claims.user_id, createdAt: claims.created_at, ...user, transport }
    } catch (err) {
      // A cookie whose token or session is no good is of no further use to the browser.
      if (transport === 'cookie' && err instanceof AppError && err.statusCode === 401) cookies.clear(reply)
      throw err
    }
  }
}

/**
 * The user of a live session, from its hash: no database on the hot path. A session written by an
 * older release lacks some of it (see LiveSession): Postgres is read once and the session completed
 * in place, at its first use; if its user was deleted meanwhile, it ends (401 `session_expired`).
 */
export async function sessionUser (deps: Pick<AuthenticateDeps, 'users' | 'sessions'>, sessionId: string, userId: string, live: LiveSession): Promise<SessionUser> {
  if (live.role !== '' && live.email !== '' && live.userCreatedAt > 0) return live
  const user = await requireLiveUser(deps, userId)
  const complete = { role: user.role, email: user.email, userCreatedAt: Date.parse(user.createdAt) }
  await deps.sessions.upgrade(sessionId, userId, complete)
  return complete
}

/** For handlers behind `authenticate`: the caller, which is always set there. */
export function requireAuth (request: { auth: Auth | null }): Auth {
  if (!request.auth) throw errors.missingToken()
  return request.auth
}

/** onRequest hook, after `authenticate`: admins only. */
export const adminOnly: onRequestAsyncHookHandler = async (request) => {
  if (requireAuth(request).role !== 'admin') throw errors.forbidden()
}
