import type { FastifyInstance } from 'fastify'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * What a JSON answer needs (OWASP REST Security Cheat Sheet): nothing may be loaded or framed
 * because of it, no sniffing, HSTS, no referrer, no cross-origin embedding. The rest of helmet's
 * defaults are about HTML pages and would be bytes on every answer for nothing.
 */
const API: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  xFrameOptions: { action: 'deny' },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
}

/**
 * The /docs page is HTML: helmet's defaults, whose CSP allows its own script and style files. Not
 * upgrade-insecure-requests: TLS is the proxy's business (HSTS covers it), and /docs must load over
 * local http too.
 */
const PAGES: HelmetOptions = { contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }

/**
 * The ops console (/console): our own script and style files and nothing else. No inline script or
 * style, no eval, no other origin; it talks to this origin only and cannot be framed. Style set
 * from script through the CSSOM (the charts' sizes) is not inline style and stays allowed.
 */
const CONSOLE: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'"],
      connectSrc: ["'self'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
  xFrameOptions: { action: 'deny' },
}

/**
 * The headers helmet sets, worked out once. With these options they are the same for every answer
 * (no CSP nonces), so there is no need to run helmet per request, as @fastify/helmet does: it
 * rebuilds every middleware and re-parses the CSP on each one, a visible cost of every GET /me in
 * the profile (docs/performance.md).
 */
function securityHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader: (name: string, value: string) => { headers[name.toLowerCase()] = value },
    removeHeader: (name: string) => { delete headers[name.toLowerCase()] },
  }
  let called = false
  helmet(options)({} as never, recorder as never, () => (called = true))
  if (!called) throw new Error('helmet did not finish synchronously; its headers cannot be computed once')
  return headers
}

/** What every API answer carries; also written by hand into the answers Node sends before Fastify (error-handler.ts). */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze(securityHeaders(API))

/** Sets the security headers on every answer, errors and 404s included: the page sets under /docs and /console. */
export function registerSecurityHeaders (app: FastifyInstance, prefixes: { docs: string, console: string }): void {
  const api = API_SECURITY_HEADERS
  const docs = securityHeaders(PAGES)
  const console = securityHeaders(CONSOLE)
  app.addHook('onRequest', (request, reply, done) => {
    const url = request.routeOptions.url
    reply.headers(url === undefined ? api : url.startsWith(prefixes.docs) ? docs : url.startsWith(prefixes.console) ? console : api)
    done()
  })
}
