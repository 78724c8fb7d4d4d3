/**
 * The HTTP answers to an unauthenticated or unserviceable request, word for word as Gatehouse
 * gives them (Gatehouse builds its own from these), so an app sees one behaviour everywhere.
 */

/** RFC 9110 §15.5.2: a 401 carries a challenge; this is the scheme the token is read with. */
export const AUTH_CHALLENGE = 'Token realm="Application"'
/** Seconds a client should wait before retrying when a dependency is down. */
export const RETRY_AFTER_SECONDS = 5

/** Authentication failures say only "missing", "invalid" or "expired": never which check failed. */
export const AUTH_MESSAGES = {
  missing_token: 'Authentication required: send Authorization: Token token=<token>',
  invalid_token: 'The token is invalid',
  session_expired: 'The session has expired or was ended; log in again',
} as const

export type AuthFailure = keyof typeof AUTH_MESSAGES

export const unavailableMessage = (dependency: string) => `The service is temporarily unavailable (${dependency}); try again shortly`

export const csrfMessage = (why: string) => `Cross-site request refused: ${why}`

export interface Answer {
  status: number
  headers: Record<string, string>
  body: { error: string, message: string }
}

// Answers about a caller's own authentication are never cached.
const NO_STORE = { 'cache-control': 'no-store' }

export const unauthorized = (failure: AuthFailure): Answer => ({
  status: 401,
  headers: { ...NO_STORE, 'www-authenticate': AUTH_CHALLENGE },
  body: { error: failure, message: AUTH_MESSAGES[failure] },
})

export const unavailable = (dependency: string): Answer => ({
  status: 503,
  headers: { ...NO_STORE, 'retry-after': String(RETRY_AFTER_SECONDS) },
  body: { error: 'service_unavailable', message: unavailableMessage(dependency) },
})

export const csrfRejected = (why: string): Answer => ({
  status: 403,
  headers: { ...NO_STORE },
  body: { error: 'csrf_rejected', message: csrfMessage(why) },
})
