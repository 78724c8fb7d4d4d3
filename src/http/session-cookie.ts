import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CookieConfig } from '../config/index.js'
import { errors } from '../shared/errors.js'

/**
 * The cookie transport, for web apps on the same site: the token travels in an HttpOnly cookie
 * that page scripts cannot read, instead of an Authorization header. Requests that change
 * something with that cookie must prove they come from one of our pages (see `checkCsrf`);
 * requests with the header (the mobile app, other services) are not affected by any of this.
 */
export interface SessionCookies {
  /** The token from the session cookie, if the request carries one. */
  tokenOf(request: FastifyRequest): string | undefined
  /** Sets the session cookie and the readable CSRF cookie; returns the CSRF token. */
  set(reply: FastifyReply, token: string, maxAgeSeconds: number): string
  /** Removes both cookies (logout, or a cookie whose session is over). */
  clear(reply: FastifyReply): void
  /** Throws 403 `csrf_rejected` unless a cookie-authenticated request that changes state is our own page's. */
  checkCsrf(request: FastifyRequest, token: string): void
  /** Throws 403 `csrf_rejected` unless the request comes from an allowed origin (for logins asking for a cookie). */
  checkOrigin(request: FastifyRequest): void
}

/** Methods that do not change state: no CSRF proof needed (and nothing in Gatehouse changes state on them). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export const CSRF_HEADER = 'x-csrf-token'

/**
 * The CSRF token is derived from the session token: SHA-256 of it, under a label. Only a page
 * that can read our cookies (our own origin) can know it; an attacker who cannot read the
 * session token cannot compute it, and it changes with every session (no fixation, no store).
 */
export function csrfTokenFor (token: string): string {
  return createHash('sha256').update(`gatehouse-csrf:${token}`).digest('base64url')
}

const rejected = errors.csrfRejected

export function createSessionCookies ({ secure }: CookieConfig, allowedOrigins: string[]): SessionCookies {
  // `__Host-`: only a Secure cookie, set by this host for Path=/ without Domain, may have this
  // name, so a sibling subdomain cannot plant one (cookie tossing). Plain http cannot use it.
  const sessionName = secure ? '__Host-gatehouse_session' : 'gatehouse_session'
  const csrfName = secure ? '__Host-gatehouse_csrf' : 'gatehouse_csrf'
  const base = { path: '/', secure, sameSite: 'lax' } as const
  const allowed = new Set(allowedOrigins)

  /** The Origin header, or else the origin of the Referer; null if neither is usable. */
  function originOf (request: FastifyRequest): string | null {
    const origin = request.headers.origin
    if (origin) return origin
    try {
      return request.headers.referer ? new URL(request.headers.referer).origin : null
    } catch {
      return null
    }
  }

  function checkOrigin (request: FastifyRequest): void {
    // Fetch Metadata: a browser says when a request comes from another site altogether.
    const site = request.headers['sec-fetch-site']
    if (site !== undefined && site !== 'same-origin' && site !== 'same-site') throw rejected(`Sec-Fetch-Site is ${site}`)
    const origin = originOf(request)
    if (origin === null) throw rejected('no Origin or Referer header')
    if (!allowed.has(origin)) throw rejected(`origin ${origin} is not in CORS_ORIGINS`)
  }

  return {
    tokenOf: (request) => request.cookies[sessionName] || undefined,
    set (reply, token, maxAgeSeconds) {
      const csrf = csrfTokenFor(token)
      reply.setCookie(sessionName, token, { ...base, httpOnly: true, maxAge: maxAgeSeconds })
      // Readable by our pages' scripts, which send it back in X-CSRF-Token.
      reply.setCookie(csrfName, csrf, { ...base, httpOnly: false, maxAge: maxAgeSeconds })
      return csrf
    },
    clear (reply) {
      reply.clearCookie(sessionName, { ...base, httpOnly: true })
      reply.clearCookie(csrfName, { ...base, httpOnly: false })
    },
    checkOrigin,
    checkCsrf (request, token) {
      if (SAFE_METHODS.has(request.method)) return
      checkOrigin(request)
      const sent = request.headers[CSRF_HEADER]
      if (typeof sent !== 'string' || sent === '') throw rejected(`no ${CSRF_HEADER} header`)
      const expected = Buffer.from(csrfTokenFor(token))
      const given = Buffer.from(sent)
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw rejected(`${CSRF_HEADER} does not match the session`)
    },
  }
}
