import { MAX_TOKEN_LENGTH, parseTokenHeader } from '@gatehouse/session-reader/credentials'
import { audienceMatches } from '@gatehouse/session-reader/token'
import type { onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { ACCOUNT_DELETED } from '../core/sessions-ended.js'
import { consoleOrigin } from '../http/console-origin.js'
import { createSessionCookies, type SessionCookies } from '../http/session-cookie.js'
import type { Reach } from '../sessions/types.js'
import { errors, isUnauthenticated } from '../shared/errors.js'
import type { Role } from '../users/roles.js'

/** Who is calling, set on `request.auth` by `authenticate`. */
export interface Auth {
  sessionId: string
  userId: string
  /** Unix ms. */
  createdAt: number
  /** From the session hash: current, since a role change ends the user's sessions. */
  role: Role
  /** From the session hash too (there is no way to change an email), so GET /me needs no database. */
  email: string
  /** When the user signed up, Unix ms. */
  userCreatedAt: number
  /** When the user confirmed the email, Unix ms: as the session recorded it at login, or a confirmation since (touch); 0: not confirmed. */
  emailVerifiedAt: number
  /** How the token came: the Authorization header, or the web app's session cookie. */
  transport: 'header' | 'cookie'
  /** What the token reaches, and under which client's policy (its audience): for later checks of the same session. */
  reach: Reach
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: Auth | null
  }
  interface FastifyInstance {
    /** The onRequest hook of every authenticated route (see routes/index.ts). */
    authenticate: onRequestAsyncHookHandler
    /** The web app's cookie transport and its CSRF checks. */
    sessionCookies: SessionCookies
  }
}

/**
 * The gate of every authenticated route (run as onRequest, before the body is even read):
 * a genuine token, then a live session in Redis, whose TTL slides in the same round trip.
 * Any failure, including Redis being down, ends the request; nothing is authenticated on an
 * error path. The token comes from the Authorization header or, failing that, from the session
 * cookie; with the cookie, a request that changes state must also pass the CSRF check, before
 * the session is touched.
 */
export default fp(async (app) => {
  const { tokens, sessions, accounts, metrics, recentSessions, config } = app
  const cookies = createSessionCookies(config.cookies, config.corsOrigins, config.consoleEnabled ? consoleOrigin(config.consoleHosts) : null)
  const { audienceHeader } = config.jwt
  app.decorate('sessionCookies', cookies)
  app.decorateRequest('auth', null)
  app.decorate('authenticate', async function authenticate (request, reply) {
    // Answers to authenticated requests are the caller's own (sessions, addresses): never cached.
    reply.header('cache-control', 'no-store')
    const header = parseTokenHeader(request.headers.authorization)
    const token = header ?? cookies.tokenOf(request)
    if (token === undefined) throw errors.missingToken()
    const transport = header === null ? 'cookie' : 'header'
    try {
      // null: two different session cookies of one name (one planted by a sibling subdomain): never guess.
      if (token === null || token.length > MAX_TOKEN_LENGTH) throw errors.invalidToken()
      const claims = tokens.verify(token)
      // A token bound to a client at login is good only with that client's name beside it.
      if (!audienceMatches(claims, request.headers[audienceHeader] as string | undefined)) throw errors.invalidToken()
      if (transport === 'cookie') cookies.checkCsrf(request, token)
      const reach = tokens.reachOf(claims)
      const touched = await sessions.authenticate(claims.jti, claims.user_id, reach)
      metrics.touched('live' in touched ? 'ok' : 'gone')
      // Why, so the app can say it.
      if (!('live' in touched)) throw errors.expiredSession(touched.ending)
      const { live } = touched
      // In memory (written every few seconds): the console's most recently active sessions.
      recentSessions.seen(claims.user_id, claims.jti)
      const user = await accounts.sessionUser(claims.jti, claims.user_id, live)
      if (!user) throw errors.expiredSession(ACCOUNT_DELETED)
      request.auth = { sessionId: claims.jti, userId: claims.user_id, createdAt: claims.created_at, ...user, emailVerifiedAt: live.emailVerifiedAt, transport, reach }
    } catch (err) {
      // A cookie whose token or session is no good is of no further use to the browser.
      if (transport === 'cookie' && isUnauthenticated(err)) cookies.clear(reply)
      throw err
    }
  } satisfies onRequestAsyncHookHandler)
}, { name: 'authenticate', dependencies: ['config', 'tokens', 'sessions', 'accounts', 'metrics', 'activity'] })

/** For handlers behind `authenticate`: the caller, which is always set there. */
export function requireAuth (request: { auth: Auth | null }): Auth {
  if (!request.auth) throw errors.missingToken()
  return request.auth
}

/** onRequest hook, after `authenticate`: admins only. */
export const adminOnly: onRequestAsyncHookHandler = async (request) => {
  if (requireAuth(request).role !== 'admin') throw errors.forbidden()
}
