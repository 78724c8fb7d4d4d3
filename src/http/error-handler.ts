import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance } from 'fastify'
import { discardBody } from './body-parsing.js'
import { GatehouseError } from '../shared/errors.js'
import { httpErrorOf } from './error-map.js'

/** Names for the 4xx statuses Fastify itself raises (body parsing, content type, size). */
const CLIENT_ERROR_CODES: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  431: 'headers_too_large',
}

/**
 * Every error leaves as JSON `{ error, message }` with the right status. Messages of 4xx errors
 * are the client's to read; a 5xx never shows its message or stack, only a request id to quote.
 */
export function installErrorHandlers (app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | GatehouseError, request, reply) => {
    if (err instanceof GatehouseError) {
      if (err.isFault) request.log.warn({ err: err.cause ?? err }, err.message)
      const { status, headers, body } = httpErrorOf(err, request.headers.authorization)
      return reply.code(status).headers(headers).send(body)
    }
    if (err.validation) {
      return reply.code(400).send({ error: 'bad_request', message: err.message })
    }
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
    return reply.code(500).send({ error: 'internal_error', message: `Internal server error (request ${request.id})` })
  })

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not_found', message: `No route for ${request.method} ${request.url.split('?')[0]}` })
  })
}

/**
 * Errors Node raises before a request reaches Fastify (oversized headers, malformed HTTP, idle
 * timeouts) get the same `{ error, message }` shape as everything else.
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
  this.log.debug({ err }, 'client error')
  if (socket.writable) {
    const body = JSON.stringify({ error, message })
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(err)
}
