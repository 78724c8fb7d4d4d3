import type { FastifyRequest } from 'fastify'

/**
 * Where the ops console is, request by request. Gatehouse serves the console itself, so its pages
 * come from the request's own origin, and that origin may use the session cookie without being in
 * CORS_ORIGINS (session-cookie.ts). But a request's own origin is only the name the browser used,
 * and any name that resolves to Gatehouse will do: a DNS-rebinding page (attacker.example, pointed
 * at Gatehouse's address once it has loaded) is same-origin with everything Gatehouse answers it.
 * CONSOLE_HOSTS names the hosts the console is really at; a request to another is no console's.
 */
export interface ConsoleOrigin {
  /** Whether the request came to a host the console is served at (any host, with CONSOLE_HOSTS empty). */
  servesConsole(request: FastifyRequest): boolean
  /** The request's own origin, as a browser writes it in Origin, when the console is served at its host; else null. */
  originOf(request: FastifyRequest): string | null
}

/** `hosts`: CONSOLE_HOSTS as config parsed it (`name` or `name:port`, spelled as a URL spells them). */
export function consoleOrigin (hosts: readonly string[]): ConsoleOrigin {
  const listed = new Set(hosts)
  // `ops.example.com` is that host at the scheme's own port (the browser then sends no port);
  // `ops.example.com:8443` at that port, and `ops.example.com:443` at 443 either way.
  const isListed = (url: URL) =>
    listed.has(`${url.hostname}:${url.port || DEFAULT_PORTS[url.protocol]}`) || (url.port === '' && listed.has(url.hostname))
  const servedAt = (url: URL | null) => url !== null && (listed.size === 0 || isListed(url))
  return {
    servesConsole: (request) => listed.size === 0 || servedAt(addressed(request)),
    originOf (request) {
      const url = addressed(request)
      return servedAt(url) ? url!.origin : null
    },
  }
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' }

/**
 * The URL the browser addressed: the request's scheme and Host (X-Forwarded-Proto and -Host
 * through TRUST_PROXY), lower case and without the scheme's default port, as in Origin
 * (`Host: Example.com:443` over https is `https://example.com`). Null for what no browser sends
 * as a Host: nothing, or more than a host and port (`a@b`, `a/b`), which a URL would read otherwise.
 */
function addressed (request: FastifyRequest): URL | null {
  const protocol = request.protocol.toLowerCase()
  if ((protocol !== 'http' && protocol !== 'https') || !HOST.test(request.host)) return null
  try {
    return new URL(`${protocol}://${request.host}`)
  } catch {
    return null
  }
}

/** A name (underscores too: browsers and container networks allow them), an IPv4 or [IPv6] address; an optional port. */
const HOST = /^(?:[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/
