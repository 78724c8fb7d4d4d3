import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errors } from '../shared/errors.js'

/**
 * Whether a route's methods are all ones whose request body Fastify never reads (GET, HEAD): no
 * 400/413/415 for a body, no CSRF check, and (no answer to them carries a secret) compressible.
 */
export const readsOnly = (method: string | readonly string[]) => [method].flat().every((m) => m === 'GET' || m === 'HEAD')

/** An auth API has small bodies; anything larger is refused (413) before it is parsed. */
export const BODY_LIMIT_BYTES = 16 * 1024

/**
 * How much of an oversized body is read (and thrown away) before the 413 is sent, and for how
 * long at most. A client that is still sending when the server answers and closes gets a
 * connection reset instead of the answer (Node's fetch: EPIPE); reading the rest first lets an
 * ordinary client see the 413. Past either bound the connection is simply closed.
 */
const DISCARD_LIMIT_BYTES = 10 * 1024 * 1024
const DISCARD_TIMEOUT_MS = 10_000

/**
 * JSON only, with one allowance: an empty body sent as application/json counts as no body.
 * Mobile HTTP clients often set that header on every request, and a logout (DELETE) must not
 * fail with 400 — leaving the session alive — just because of it. Routes that need a body still
 * reject the missing one through their schema. Proto/constructor poisoning stays an error, and
 * the 400 says which it was (Fastify's parser calls both "not valid JSON").
 */
export function configureBodyParsing (app: FastifyInstance): void {
  // A text/plain body gets 415, not a confusing validation error.
  app.removeContentTypeParser(['text/plain'])
  const parseJson = app.getDefaultJsonParser('error', 'error')
  const poisoning = poisoningOf(app)
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined)
    parseJson(request, body as string, (err, parsed) => {
      if (err === null) return done(null, parsed)
      done(errors.badRequest(poisoning(request, body as string) ?? 'Body is not valid JSON'), undefined)
    })
  })
}

/**
 * Why a body the secure parser refused was refused, when the JSON itself is valid: the keys it
 * refuses. Runs only on a refusal (at most BODY_LIMIT_BYTES), with the same parser allowing one
 * of the two keys at a time, so that what is refused is exactly what Fastify's parser refuses.
 */
function poisoningOf (app: FastifyInstance) {
  const allowingProto = app.getDefaultJsonParser('ignore', 'error')
  const allowingConstructor = app.getDefaultJsonParser('error', 'ignore')
  const parses = (parse: typeof allowingProto, request: FastifyRequest, body: string) => {
    let ok = false
    parse(request, body, (err) => { ok = err === null })
    return ok
  }
  return (request: FastifyRequest, body: string): string | undefined => {
    try {
      JSON.parse(body)
    } catch {
      return undefined
    }
    const proto = !parses(allowingConstructor, request, body)
    const constructor = !parses(allowingProto, request, body)
    if (proto && constructor) return 'Body must not contain the key "__proto__", nor a "constructor" key holding a "prototype" key'
    if (proto) return 'Body must not contain the key "__proto__"'
    if (constructor) return 'Body must not contain a "constructor" key holding a "prototype" key'
    return undefined
  }
}

/**
 * Reads the rest of a request body and drops it, up to DISCARD_LIMIT_BYTES and DISCARD_TIMEOUT_MS.
 * True when the client has sent all of it (the answer can then be read), false past a bound.
 */
export function discardBody (raw: IncomingMessage): Promise<boolean> {
  if (raw.readableEnded || raw.destroyed) return Promise.resolve(raw.readableEnded)
  if (Number(raw.headers['content-length']) > DISCARD_LIMIT_BYTES) return Promise.resolve(false)
  return new Promise((resolve) => {
    let received = 0
    const finish = (complete: boolean) => {
      clearTimeout(timer)
      raw.off('data', onData).off('end', onEnd).off('error', onFail).off('close', onFail)
      resolve(complete)
    }
    const onData = (chunk: Buffer) => {
      received += chunk.length
      if (received > DISCARD_LIMIT_BYTES) finish(false)
    }
    const onEnd = () => finish(true)
    const onFail = () => finish(false)
    const timer = setTimeout(onFail, DISCARD_TIMEOUT_MS)
    raw.on('data', onData).once('end', onEnd).once('error', onFail).once('close', onFail)
    raw.resume()
  })
}
