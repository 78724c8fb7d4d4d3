import { ENDED_REASONS, REVOKED_CAUSES } from '@gatehouse/session-reader/answers'
import { CLIENT_ERROR_CODES } from '../http/error-handler.js'
import { wireOf } from '../http/error-map.js'
import type { ErrorCode } from '../shared/errors.js'

// Every error an operation can answer, as the OpenAPI document states it: one response per
// status, whose `error` is an enum of exactly the codes that status can carry there, with the
// headers it carries. Routes name the codes their use cases raise (`failures(...)`); the gates
// add theirs (routes/index.ts): a body's 400/413/415, authentication's 401/403/503, admin's 403.
// Statuses come from src/http/error-map.ts, so the document cannot disagree with the wire.

/** Answered by Fastify's body handling, named by src/http/error-handler.ts. */
type FrameworkFailure = 'payload_too_large' | 'unsupported_media_type'
export type Failure = ErrorCode | FrameworkFailure

const frameworkStatus = (failure: string) => Object.entries(CLIENT_ERROR_CODES).find(([, code]) => code === failure)?.[0]
const statusOf = (failure: Failure) => {
  const framework = frameworkStatus(failure)
  return framework === undefined ? wireOf(failure as ErrorCode) : { status: Number(framework), error: failure }
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'The request is malformed or a value is refused: `message` says which',
  401: 'Not authenticated: the challenge is in WWW-Authenticate, and `error` says why',
  403: 'Authenticated, but not allowed',
  404: 'No such resource',
  409: 'The request conflicts with the current state',
  413: 'The body is larger than the limit',
  415: 'The body is not in a type this operation reads',
  429: 'Too many attempts: wait Retry-After seconds',
  503: 'A dependency (Redis or PostgreSQL) is down, or the service is saturated: retry after Retry-After seconds',
}

/**
 * The response headers the document names, each defined once in components.headers: a route's
 * schema lists them by name (`headers: responseHeaders('Retry-After')`) and routes/docs.ts turns
 * each into a reference. X-Request-Id is on every answer and added to every response there.
 */
export const RESPONSE_HEADERS = {
  'Retry-After': { description: 'Seconds to wait before trying again', required: true, schema: { type: 'integer', minimum: 0 } },
  'WWW-Authenticate': { description: 'The challenge: `Token realm="Application"`, or to a caller that used Bearer, `Bearer realm="Application"` with `error="invalid_token"` when its token was refused (RFC 6750 §3)', required: true, schema: { type: 'string' } },
  'X-Request-Id': { description: 'The id this request is logged under: the caller\'s X-Request-Id if it was 1-128 of A-Z a-z 0-9 . _ : -, otherwise a new UUID. Quote it when reporting a problem', required: true, schema: { type: 'string' } },
  // draft-ietf-httpapi-ratelimit-headers-11; on every answer of a route that can answer 429 (routes/docs.ts).
  'RateLimit-Policy': {
    description: 'The limits this request was counted under: a list of `"<policy>";q=<quota>;w=<window seconds>`, e.g. `"login";q=10;w=900, "login-ip";q=100;w=900`. Absent when the request was not counted (a body refused by its schema, a 503). docs/api.md, "Rate limit headers"',
    required: false,
    schema: { type: 'string' },
  },
  RateLimit: {
    description: 'What is left after this request: a list of `"<policy>";r=<remaining>;t=<seconds>`, e.g. `"login";r=3;t=840`. On a 429, only the policy that refused, with `r=0` and `t` equal to Retry-After. Counts only the caller\'s own address, or the email named from the caller\'s network: never attempts from other networks',
    required: false,
    schema: { type: 'string' },
  },
  'Cache-Control': { description: '`no-store` on every answer to an authenticated request and on every answer that carries a token; `public, max-age=300` on the JWKS', required: false, schema: { type: 'string' } },
} as const
export type ResponseHeader = keyof typeof RESPONSE_HEADERS

/** A response schema's `headers`, by name (routes/docs.ts makes each a reference). */
export const responseHeaders = (...names: ResponseHeader[]) =>
  Object.fromEntries(names.map((name) => [name, { type: 'string', description: RESPONSE_HEADERS[name].description }]))

const HEADERS_BY_STATUS: Record<number, object> = {
  401: responseHeaders('WWW-Authenticate'),
  429: responseHeaders('Retry-After'),
  503: responseHeaders('Retry-After'),
}

/** Which failures each response schema stands for: merging two unions them. */
const codesOf = new WeakMap<object, readonly Failure[]>()

function errorResponse (status: number, failures: readonly Failure[]): object {
  const errors = [...new Set(failures.map((f) => statusOf(f).error))].sort()
  const schema = {
    type: 'object',
    description: DESCRIPTIONS[status] ?? 'Error',
    required: ['error', 'message'],
    additionalProperties: false,
    ...(HEADERS_BY_STATUS[status] && { headers: HEADERS_BY_STATUS[status] }),
    properties: {
      error: { type: 'string', enum: errors },
      message: { type: 'string', description: 'For people; `error` is for code' },
      // Only beside session_expired (docs/api.md, "Why a session ended").
      ...(failures.includes('session_expired') && {
        reason: { type: 'string', enum: ENDED_REASONS, description: 'With session_expired: why the session ended' },
        cause: { type: 'string', enum: REVOKED_CAUSES, description: 'With reason `revoked`, when known: what revoked it' },
      }),
    },
  }
  codesOf.set(schema, failures)
  return schema
}

/** The error responses for these failures, one per status. */
export function failures (...list: Failure[]): Record<number, object> {
  const byStatus = new Map<number, Failure[]>()
  for (const failure of list) {
    const { status } = statusOf(failure)
    byStatus.set(status, [...(byStatus.get(status) ?? []), failure])
  }
  return Object.fromEntries([...byStatus].map(([status, codes]) => [status, errorResponse(status, codes)]))
}

/**
 * A route's responses with more failures added (the gates' own), statuses in common united; a
 * success response is never replaced.
 */
export function withFailures (responses: Record<string, unknown> | undefined, ...more: Failure[]): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...responses }
  for (const [status, schema] of Object.entries(failures(...more))) {
    const existing = merged[status]
    const known = existing === undefined ? [] : codesOf.get(existing as object)
    if (known === undefined) continue
    merged[status] = errorResponse(Number(status), [...new Set([...known, ...codesOf.get(schema)!])])
  }
  return merged
}

/** Failures every operation with a body can meet before its handler runs. */
export const BODY_FAILURES: readonly Failure[] = ['bad_request', 'payload_too_large', 'unsupported_media_type']
/** What the session check (authenticate) answers: no, bad or ended token; CSRF with the cookie; Redis down. */
export const SESSION_FAILURES: readonly Failure[] = ['missing_token', 'invalid_token', 'session_expired', 'unavailable']
