import { challengeFor, RETRY_AFTER_SECONDS, unauthorized } from '@gatehouse/session-reader/answers'
import type { ErrorCode, GatehouseError } from '../shared/errors.js'

// The challenge and Retry-After come from the session reader library, whose middleware answers
// other services' callers exactly as Gatehouse does.
export { RETRY_AFTER_SECONDS }

interface HttpAnswer {
  status: number
  /** The `error` field of the body, when it is not the code itself. */
  error?: string
  headers?: (err: GatehouseError) => Record<string, string>
}

const retryLater = () => ({ 'retry-after': String(RETRY_AFTER_SECONDS) })

/** The one place where a domain error becomes an HTTP answer. */
const ANSWERS: Record<ErrorCode, HttpAnswer> = {
  missing_token: { status: 401 },
  invalid_token: { status: 401 },
  session_expired: { status: 401 },
  invalid_credentials: { status: 401 },
  // A service credential is a bearer token, not a session token: its challenge says so.
  invalid_client: { status: 401, headers: () => ({ 'www-authenticate': 'Bearer realm="introspection"' }) },
  email_taken: { status: 409 },
  // A re-entered password (PUT /me/password, DELETE /me) was wrong. 401, as a failed
  // authentication; apps tell it from "sign in again" by its code (docs/mobile.md).
  invalid_password: { status: 401 },
  email_unverified: { status: 403 },
  invalid_reset_token: { status: 400 },
  invalid_verification_token: { status: 400 },
  forbidden: { status: 403 },
  csrf_rejected: { status: 403 },
  session_not_found: { status: 404 },
  user_not_found: { status: 404 },
  conflict: { status: 409 },
  bad_request: { status: 400 },
  busy: { status: 503, error: 'service_unavailable', headers: retryLater },
  overloaded: { status: 503, error: 'service_unavailable', headers: retryLater },
  too_many_streams: { status: 503, error: 'service_unavailable', headers: retryLater },
  too_many_attempts: { status: 429, error: 'too_many_requests', headers: (err) => ({ 'retry-after': String(err.detail.retryAfterSeconds ?? RETRY_AFTER_SECONDS) }) },
  unavailable: { status: 503, error: 'service_unavailable', headers: retryLater },
  not_ready: { status: 503, headers: retryLater },
}

export interface HttpError {
  status: number
  headers: Record<string, string>
  body: { error: string, message: string, reason?: string, cause?: string }
}

/** The status and the body's `error` a code is answered with (the OpenAPI document lists them from here). */
export function wireOf (code: ErrorCode): { status: number, error: string } {
  const answer = ANSWERS[code]
  return { status: answer.status, error: answer.error ?? code }
}

/** `authorization`: the caller's header, whose scheme (Bearer or Token) a 401's challenge follows. */
export function httpErrorOf (err: GatehouseError, authorization?: string): HttpError {
  const answer = ANSWERS[err.code]
  const headers = answer.headers?.(err) ?? {}
  // Every 401 carries a challenge; an error that names none gets the API's, in the caller's scheme.
  if (answer.status === 401 && !('www-authenticate' in headers)) headers['www-authenticate'] = challengeFor(authorization, err.code)
  // Why the session ended goes beside session_expired, worded as the reader library's middleware words it.
  if (err.code === 'session_expired') return { status: answer.status, headers, body: unauthorized('session_expired', err.detail.ending).body }
  return { status: answer.status, headers, body: { error: answer.error ?? err.code, message: err.message } }
}
