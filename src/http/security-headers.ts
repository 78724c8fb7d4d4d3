import type { FastifyInstance } from 'fastify'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * helmet's defaults (nosniff, HSTS, no referrer, frame and CSP limits): JSON needs no more, and the
 * /docs page's scripts are files of its own. Not upgrade-insecure-requests: TLS is the proxy's
 * business (HSTS covers it), and /docs must load over local http too.
 */
const OPTIONS: HelmetOptions = { contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }

/**
 * The headers helmet sets, worked out once. With these options they are the same for every answer
 * (no CSP nonces), so there is no need to run helmet per request, as @fastify/helmet does: it
 * rebuilds every middleware and re-parses the CSP on each one, which the profile showed as 4.5% of
 * a GET /me (docs/performance.md).
 */
export function securityHeaders(options: HelmetOptions = OPTIONS): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader: (name: string, value: string) => void (headers[name.toLowerCase()] = value),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
  }
  let called = false
  helmet(options)({} as never, recorder as never, () => (called = true))
  if (!called) throw new Error('helmet did not finish synchronously; its headers cannot be computed once')
  return headers
}

/** Sets the security headers on every answer, errors and 404s included. */
export function registerSecurityHeaders(app: FastifyInstance): void {
  const headers = securityHeaders()
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
}
