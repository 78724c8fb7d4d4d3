import compress from '@fastify/compress'
import type { FastifyInstance } from 'fastify'
import { constants } from 'node:zlib'
import { readsOnly } from './body-parsing.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The answer's body holds a token or a CSRF token: never compressed (BREACH; docs/security.md). */
    carriesSecret?: boolean
  }
}

/** Smaller answers go as they are: a few hundred bytes gain nothing worth a compressor's start. */
export const COMPRESSION_THRESHOLD_BYTES = 1024

/**
 * gzip and br for large answers (a page of sessions, /docs/json, /metrics), and never for one
 * that carries a secret: BREACH recovers a secret from the compressed size of answers that
 * also reflect what an attacker sent. Three rules, none of which a new route can forget:
 * - only GET and HEAD answers are compressed (a login, a sign-up answer with POST);
 * - never a route marked `config: { carriesSecret: true }` (POST /sessions, POST /users, in case
 *   the first rule is ever widened);
 * - never an answer that sets a cookie, whatever its route.
 * Server-sent events (text/event-stream) are not compressible for the plugin, so never held back
 * in a compressor's buffer. Request bodies are not decompressed: no client needs it, and a small
 * gzip body would be a large one.
 */
export async function registerCompression (app: FastifyInstance, { threshold = COMPRESSION_THRESHOLD_BYTES } = {}): Promise<void> {
  // Before the plugin's own onRoute hook, which then leaves these routes alone: no cost per request.
  app.addHook('onRoute', (route) => {
    // Only reads are compressed: no answer to GET or HEAD carries a token or a CSRF token.
    if (route.config?.carriesSecret === true || !readsOnly(route.method)) route.compress = false
  })
  // Runs before the plugin's onSend (route hooks come after the app's), and after @fastify/cookie's,
  // which writes Set-Cookie. x-no-compression is the plugin's own switch, read there.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.hasHeader('set-cookie')) request.headers['x-no-compression'] = 'set-cookie'
    done(null, payload)
  })
  await app.register(compress, {
    // br first when a client takes both at the same weight: at quality 4 it costs about what gzip
    // (level 6) does, for a slightly smaller answer. Quality 11 costs over 100 times more for one
    // to three points (measured in docs/ops.md#compression).
    encodings: ['br', 'gzip'],
    threshold,
    brotliOptions: { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } },
    globalDecompression: false,
  })
}
