import { AMBIGUOUS, cookieNames, csrfRejection, csrfTokenFor, originRejection, tokenFromCookies } from '@gatehouse/session-reader/credentials'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CookieConfig } from '../config/index.js'
import type { ConsoleOrigin } from './console-origin.js'
import { errors } from '../shared/errors.js'

/**
 * The cookie transport, for web apps: the token travels in an HttpOnly cookie that page scripts
 * cannot read, instead of an Authorization header. Requests that change something with that
 * cookie must prove they come from one of our pages (see `checkCsrf`); requests with the header
 * (the mobile app, other services) are not affected by any of this. How the cookie is read and the
 * CSRF rule live in the session reader library, so other services apply them exactly as we do.
 */
export interface SessionCookies {
  /** The token from the session cookie; undefined without one, null when two different ones came (refused). */
  tokenOf(request: FastifyRequest): string | null | undefined
  /** Sets the session cookie and the readable CSRF cookie; returns the CSRF token. */
  set(reply: FastifyReply, token: string, maxAgeSeconds: number): string
  /** Removes both cookies (logout, or a cookie whose session is over). */
  clear(reply: FastifyReply): void
  /** Throws 403 `csrf_rejected` unless a cookie-authenticated request that changes state is our own page's. */
  checkCsrf(request: FastifyRequest, token: string): void
  /** Throws 403 `csrf_rejected` unless the request comes from an allowed origin (for logins asking for a cookie). */
  checkOrigin(request: FastifyRequest): void
}

export { CSRF_HEADER, csrfTokenFor } from '@gatehouse/session-reader/credentials'

const rejected = errors.csrfRejected

/**
 * `consoleAt`: the ops console, served by Gatehouse itself, may use the cookie too from the request's
 * own origin, without it being listed in CORS_ORIGINS: its scheme and Host (X-Forwarded-* through
 * TRUST_PROXY), when CONSOLE_HOSTS lists that host or is empty (console-origin.ts). A page of
 * another site cannot make a browser send our Host with its Origin; one that got its name resolved
 * to our address (DNS rebinding) can, and only CONSOLE_HOSTS tells its host from ours.
 */
export function createSessionCookies ({ secure, domain }: CookieConfig, allowedOrigins: string[], consoleAt: ConsoleOrigin | null = null): SessionCookies {
  // Host-only `__Host-` names by default: only a Secure cookie set by this host for Path=/ without
  // Domain may have one, so a sibling subdomain cannot plant one (cookie tossing). With
  // COOKIE_DOMAIN, `__Secure-` names scoped to that domain, so sibling subdomains receive them.
  const names = cookieNames({ secure, shared: domain !== null })
  const sessionName = names.session.at(-1)!
  const base = { path: '/', secure, sameSite: 'lax', ...(domain && { domain }) } as const
  const allowed = new Set(allowedOrigins)
  // A host-only pair from before COOKIE_DOMAIN was set: its session cookie is still read; both are
  // cleared at the next login or logout.
  const leftovers = names.session.filter((name) => name !== sessionName)
  const clearLeftovers = (reply: FastifyReply) => {
    for (const name of leftovers) {
      reply.clearCookie(name, { path: '/', secure, sameSite: 'lax', httpOnly: true })
      reply.clearCookie(name.replace('_session', '_csrf'), { path: '/', secure, sameSite: 'lax', httpOnly: false })
    }
  }

  /** The origins whose pages may use the cookie for this request (only cookie requests ask). */
  const allowedFor = (request: FastifyRequest): ReadonlySet<string> => {
    const own = consoleAt === null ? null : consoleAt.originOf(request)
    return own === null || allowed.has(own) ? allowed : new Set([...allowed, own])
  }

  function checkOrigin (request: FastifyRequest): void {
    const why = originRejection(request.headers, allowedFor(request), 'CORS_ORIGINS')
    if (why !== null) throw rejected(why)
  }

  return {
    tokenOf (request) {
      const token = tokenFromCookies(request.headers.cookie, names.session)
      return token === AMBIGUOUS ? null : token
    },
    set (reply, token, maxAgeSeconds) {
      const csrf = csrfTokenFor(token)
      reply.setCookie(sessionName, token, { ...base, httpOnly: true, maxAge: maxAgeSeconds })
      // Readable by our pages' scripts (on every subdomain, with COOKIE_DOMAIN), which send it back in X-CSRF-Token.
      reply.setCookie(names.csrf, csrf, { ...base, httpOnly: false, maxAge: maxAgeSeconds })
      clearLeftovers(reply)
      return csrf
    },
    clear (reply) {
      reply.clearCookie(sessionName, { ...base, httpOnly: true })
      reply.clearCookie(names.csrf, { ...base, httpOnly: false })
      clearLeftovers(reply)
    },
    checkOrigin,
    checkCsrf (request, token) {
      const why = csrfRejection(request, token, allowedFor(request), 'CORS_ORIGINS')
      if (why !== null) throw rejected(why)
    },
  }
}
