import type { FastifyInstance } from 'fastify'

/**
 * JSON only, with one allowance: an empty body sent as application/json counts as no body.
 * Mobile HTTP clients often set that header on every request, and a logout (DELETE) must not
 * fail with 400 — leaving the session alive — just because of it. Routes that need a body still
 * reject the missing one through their schema. Proto/constructor poisoning stays an error.
 */
export function configureBodyParsing(app: FastifyInstance): void {
  // A text/plain body gets 415, not a confusing validation error.
  app.removeContentTypeParser(['text/plain'])
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined)
    parseJson(request, body as string, done)
  })
}
