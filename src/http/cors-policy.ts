import type { FastifyCorsOptions } from '@fastify/cors'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../config/index.js'
import { CSRF_HEADER } from './session-cookie.js'

/**
 * How long a browser may reuse a preflight's answer (per origin and URL): 600 s, the most every
 * engine honours in full (WebKit's cap; Chromium's is 7200 s, Firefox's 86400 s; without the
 * header, 5 s). A longer value would save little, since the cache is per URL, and would delay
 * a narrowed policy (an origin removed from CORS_ORIGINS) for that much longer.
 */
export const PREFLIGHT_MAX_AGE_SECONDS = 600

/**
 * The CORS policy (docs/api.md#browsers-on-other-origins-cors). Off unless CORS_ORIGINS lists
 * origins; never a wildcard (config refuses "*"), so credentials (the cookie transport) can be
 * allowed for exactly those origins, and only they get any CORS header. The admin API
 * (/admin/...) answers no other origin at all, preflights included: the ops console, its only
 * browser client, is served by Gatehouse itself and so is same-origin, and an app on a listed
 * origin has no business with an admin's cookie.
 */
export function corsPolicy (config: Pick<Config, 'corsOrigins' | 'jwt'>): FastifyCorsOptions {
  if (config.corsOrigins.length === 0) return { origin: false }
  const open: FastifyCorsOptions = {
    origin: config.corsOrigins,
    credentials: true,
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    // What a client may send (docs/api.md): the token, its audience (JWT_AUD_HEADER), the device
    // label, the cookie transport's CSRF token, and a request id to follow a call across services.
    // Lower case, as the two configured names are (header names are case-insensitive).
    allowedHeaders: ['authorization', 'content-type', 'x-client', CSRF_HEADER, config.jwt.audienceHeader, 'x-request-id'],
    // What a page may read: why it was refused, when to retry, the rate limits, the request id.
    exposedHeaders: ['WWW-Authenticate', 'Retry-After', 'RateLimit', 'RateLimit-Policy', 'X-Request-Id'],
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
  }
  // No CORS header at all, and a preflight is a 404: for a request without Origin (the mobile
  // app, other services, the console), for an origin not listed, and for the admin API.
  const closed: FastifyCorsOptions = { origin: false }
  const listed = new Set(config.corsOrigins)
  return {
    // Decided per request, before the route runs (onRequest), preflights included: a preflight
    // matches the plugin's OPTIONS * route, so only its path tells where the real call would go.
    delegator: (request, done) => {
      const origin = request.headers.origin
      done(null, origin !== undefined && listed.has(origin) && !isAdminRequest(request) ? open : closed)
    },
  }
}

/**
 * The admin API, by the route a request matched or, for a preflight and a 404, by its path as the
 * router reads it (percent-decoded: `/%61dmin/users` is /admin/users). `//admin` and `/Admin`
 * count too, though no route answers them: better one CORS answer too few. `/administrators` does not.
 */
function isAdminRequest (request: FastifyRequest): boolean {
  if (request.routeOptions.url?.startsWith('/admin/') === true) return true
  const url = request.url
  const end = url.search(/[?#]/)
  let path = end === -1 ? url : url.slice(0, end)
  try {
    path = decodeURI(path)
  } catch {
    // Not a path the router can read (Fastify answers 400): no CORS either way.
    return true
  }
  return ADMIN_PATH.test(path)
}

const ADMIN_PATH = /^\/+admin(?![\w.~-])/i
