import type { FastifyInstance } from 'fastify'
import { clientAddress, type ProxyTrust } from '../shared/ip-address.js'

/**
 * Makes `request.ip` the client's address in its one spelling (shared/ip-address.ts), for every
 * reader: the throttle keys, the session's `ip`, the access log.
 *
 * Fastify's own `request.ip` (proxy-addr) takes the X-Forwarded-For entry as written: `ip:port`
 * there gave every connection its own throttle bucket, a host name or garbage became the
 * "address", and ::ffff:1.2.3.4 and 1.2.3.4 were two clients. Its trust function cannot fix that
 * (it judges proxies, not the entry chosen), and a `clientAddress(request)` helper would have to be
 * remembered by every route. So the first onRequest hook computes the address once and shadows the
 * getter with it on this request; everything after reads it as `request.ip`. (A request refused
 * before the hooks run, a malformed URL, is answered by Fastify alone and never logged.)
 */
export function pinClientAddress (app: FastifyInstance, trust: ProxyTrust | false): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const ip = clientAddress(request.raw.socket?.remoteAddress, request.headers['x-forwarded-for'], trust)
    Object.defineProperty(request, 'ip', { value: ip, enumerable: true })
    done()
  })
}
