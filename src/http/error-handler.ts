import { randomUUID } from 'node:crypto'
import { type IncomingMessage, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify'
import { discardBody } from './body-parsing.js'
import { GatehouseError } from '../shared/errors.js'
import { httpErrorOf } from './error-map.js'
import { API_SECURITY_HEADERS } from './security-headers.js'

/**
 * Names for the 4xx statuses Fastify itself raises (body parsing, content type, size): the
 * OpenAPI document reads the ones an operation can meet from here (src/schemas/errors.ts).
 */
export const CLIENT_ERROR_CODES: Readonly<Record<number, string>> = {
  400: 'bad_request',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  431: 'headers_too_large',
}

interface Answer { status: number, error: string, message: string }

/**
 * Fastify's router refuses these before any route is chosen. Its own messages quote the decoded
 * path (CR, LF and markup included), so they are answered in these words instead.
 */
const ROUTER_ERRORS = new Map<string | undefined, Answer>([
  ['FST_ERR_BAD_URL', { status: 400, error: 'bad_request', message: 'The URL is not a valid path (check its percent-encoding)' }],
  ['FST_ERR_MAX_PARAM_LENGTH', { status: 414, error: 'uri_too_long', message: 'A segment of the path is too long' }],
])

/**
 * The methods a path may have routes for, which a 405's Allow names. Not OPTIONS: a preflight is
 * CORS' business, answered only to listed origins off the admin API (src/http/cors-policy.ts).
 */
const ROUTED_METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']

/**
 * Every error leaves as JSON `{ error, message }` with the right status. Messages of 4xx errors
 * are the client's to read; a 5xx never shows its message or stack, only a request id to quote.
 * A client's input is never quoted back (a path, a header): a message says what is wrong with it.
 */
export function installErrorHandlers (app: FastifyInstance): void {
  // A URL the router refused comes back under a stand-in path (frameworkErrors, below). Once it
  // is routed, every hook, the access log included, sees the URL that was asked for.
  app.addHook('onRequest', (request, _reply, done) => {
    const routerError = routerErrors.get(request.raw)
    if (routerError !== undefined) request.raw.url = routerError.url
    done()
  })
  app.setErrorHandler((err: FastifyError | GatehouseError, request, reply) => {
    keepAliveAfterWholeBody(request, reply, err instanceof GatehouseError ? undefined : err.statusCode)
    if (err instanceof GatehouseError) {
      if (err.isFault) request.log.warn({ err: err.cause ?? err }, err.message)
      const { status, headers, body } = httpErrorOf(err, request.headers.authorization)
      return reply.code(status).headers(headers).send(body)
    }
    if (err.validation) {
      return reply.code(400).send({ error: 'bad_request', message: err.message })
    }
    const routerError = ROUTER_ERRORS.get(err.code)
    if (routerError !== undefined) return send(reply, routerError)
    const status = err.statusCode ?? 500
    if (status === 413) {
      // The client may still be sending: take the rest of the body (bounded) so that it can read
      // this answer, then close the connection (Fastify has asked for that already).
      return discardBody(request.raw).then(() => reply.code(413).send({ error: 'payload_too_large', message: err.message }))
    }
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ error: CLIENT_ERROR_CODES[status] ?? 'client_error', message: err.message })
    }
    request.log.error({ err }, 'unhandled error')
    return send(reply, internalError(request))
  })

  app.setNotFoundHandler((request, reply) => {
    const routerError = routerErrors.get(request.raw)
    if (routerError !== undefined) {
      const answer = ROUTER_ERRORS.get(routerError.error.code)
      if (answer !== undefined) return send(reply, answer)
      request.log.error({ err: routerError.error }, 'unhandled router error')
      return send(reply, internalError(request))
    }
    const allowed = allowedMethods(app, request.method, request.url)
    if (allowed.length > 0) {
      return reply.code(405).header('allow', allowed.join(', ')).send({
        error: 'method_not_allowed',
        message: `${request.method} is not allowed on this path; it answers ${allowed.join(', ')}`,
      })
    }
    // Node lets only known method names through, so the method is safe to name; the path is not.
    return send(reply, { status: 404, error: 'not_found', message: `No route for ${request.method} at this path` })
  })
}

const send = (reply: FastifyReply, { status, error, message }: Answer) => reply.code(status).send({ error, message })

const internalError = (request: FastifyRequest): Answer =>
  ({ status: 500, error: 'internal_error', message: `Internal server error (request ${request.id})` })

/**
 * The methods with a route for this URL, other than the one asked (a route that calls its 404
 * itself is still a 404). Asked of the router each time, nothing cached: the URLs are the
 * client's to choose, and a 404 is rare.
 */
function allowedMethods (app: FastifyInstance, method: string, url: string): string[] {
  const allowed: string[] = ROUTED_METHODS.filter((candidate) => app.findRoute({ method: candidate, url }) !== null)
  if (allowed.includes(method) || allowed.length === 0) return []
  return allowed
}

/**
 * Fastify closes the connection after any body it could not parse, "as the client may send more
 * data". When the whole request has been read, the next one on the connection starts cleanly:
 * an invalid JSON body need not cost a keep-alive client its connection. A body over the limit
 * (413) still closes it; so does a server that is shutting down (Fastify sets that on the raw
 * response, which this leaves alone).
 */
function keepAliveAfterWholeBody (request: FastifyRequest, reply: FastifyReply, status: number | undefined): void {
  if (status === 413 || !request.raw.complete || reply.raw.hasHeader('connection')) return
  if (reply.getHeader('connection') === 'close') reply.removeHeader('connection')
}

/** The router errors on their way to the not-found handler, by request (gone with it). */
const routerErrors = new WeakMap<IncomingMessage, { error: FastifyError, url: string }>()

/** A path no route has (the not-found handler answers it), for requests the router refused. */
const UNROUTED_PATH = '/.gatehouse-router-error'

/**
 * Fastify's `frameworkErrors`: a URL the router refuses (a bad percent-escape, a path parameter
 * over `maxParamLength`). Fastify calls this outside the request lifecycle, so no hook would run
 * for the answer: no request id, security or CORS headers, access log or metrics. The request is
 * routed again instead, to a path no route has, and the not-found handler answers it with the
 * error remembered here: the whole lifecycle runs, as for any other answer.
 */
export function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw
  if (routerErrors.has(raw)) {
    // The stand-in path itself refused: it cannot be, but answer here rather than loop.
    send(reply.header('x-request-id', request.id).headers(API_SECURITY_HEADERS), ROUTER_ERRORS.get(error.code) ?? internalError(request))
    return
  }
  routerErrors.set(raw, { error, url: raw.url ?? '' })
  raw.url = UNROUTED_PATH
  request.server.routing(raw, reply.raw)
}

/**
 * Errors Node raises before a request reaches Fastify (oversized headers, malformed HTTP, idle
 * timeouts) get the same `{ error, message }` shape as everything else, and the headers every
 * answer has: a request id (to quote; the log line names it), Date, the security headers.
 */
export function clientErrorHandler (this: { log: FastifyInstance['log'] }, err: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection has nobody left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, error, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'Request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'The request took too long to arrive']
        : [400, 'bad_request', 'Malformed HTTP request']
  // The request's own X-Request-Id cannot be trusted to have been read whole: a fresh one.
  const id = randomUUID()
  this.log.info({ reqId: id, res: { statusCode: status }, code: err.code }, 'client error')
  if (socket.writable) {
    const body = JSON.stringify({ error, message })
    const headers = {
      date: new Date().toUTCString(),
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'x-request-id': id,
      'cache-control': 'no-store',
      ...API_SECURITY_HEADERS,
      connection: 'close',
    }
    const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${body}`)
  }
  socket.destroy(err)
}
