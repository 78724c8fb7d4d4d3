/**
 * The HTTP answers to an unauthenticated or unserviceable request, word for word as Gatehouse
 * gives them (Gatehouse builds its own from these), so an app sees one behaviour everywhere.
 */

/** RFC 9110 §15.5.2: a 401 carries a challenge; this is the scheme the token is read with. */
export const AUTH_CHALLENGE = 'Token realm="Application"'

const BEARER = /^bearer(?:\s|$)/i

/**
 * The challenge for a caller that sent `authorization`: one that used `Bearer` gets a Bearer
 * challenge, with `error="invalid_token"` when its token was refused (RFC 6750 §3; no error code
 * when it sent no token, §3.1); every other caller gets Rails' `Token realm="Application"`.
 */
export function challengeFor (authorization: string | undefined, failure?: string): string {
  if (authorization === undefined || !BEARER.test(authorization)) return AUTH_CHALLENGE
  return failure === 'invalid_token' || failure === 'session_expired' ? 'Bearer realm="Application", error="invalid_token"' : 'Bearer realm="Application"'
}
/** Seconds a client should wait before retrying when a dependency is down. */
export const RETRY_AFTER_SECONDS = 5

/** Authentication failures say only "missing", "invalid" or "expired": never which check failed. */
export const AUTH_MESSAGES = {
  missing_token: 'Authentication required: send Authorization: Token token=<token>',
  invalid_token: 'The token is invalid',
  session_expired: 'The session has expired or was ended; log in again',
} as const

export type AuthFailure = keyof typeof AUTH_MESSAGES

/**
 * Why a session ended, told beside `session_expired` so an app can say it: unused within its idle
 * window, past its absolute end, this session's own logout, or ended by someone or something else.
 */
export const ENDED_REASONS = ['idle', 'max_age', 'logged_out', 'revoked'] as const
export type EndedReason = (typeof ENDED_REASONS)[number]

/**
 * What revoked a session, where it is known: the user from another session, a password change or
 * reset, a role change, an admin, the per-user session cap, the account's deletion, or ops ending
 * every session of its client. A value stored in Redis that is not one of these is no cause.
 */
export const REVOKED_CAUSES = ['signed_out_elsewhere', 'password_changed', 'password_reset', 'role_changed', 'admin', 'session_limit', 'account_deleted', 'client_ended'] as const
export type RevokedCause = (typeof REVOKED_CAUSES)[number]

export const isRevokedCause = (value: unknown): value is RevokedCause => (REVOKED_CAUSES as readonly unknown[]).includes(value)

/** Why a session is over, as the 401 tells it: a cause only with `revoked`. */
export interface Ending {
  reason: EndedReason
  cause?: RevokedCause
}

export const unavailableMessage = (dependency: string) => `The service is temporarily unavailable (${dependency}); try again shortly`

export const csrfMessage = (why: string) => `Cross-site request refused: ${why}`

export interface Answer {
  status: number
  headers: Record<string, string>
  body: { error: string, message: string, reason?: EndedReason, cause?: RevokedCause }
}

// Answers about a caller's own authentication are never cached.
const NO_STORE = { 'cache-control': 'no-store' }

/**
 * A 401; `session_expired` says why the session ended (`ending`), the other failures never do.
 * The challenge follows the scheme of the caller's Authorization header (challengeFor).
 */
export const unauthorized = (failure: AuthFailure, ending?: Ending, authorization?: string): Answer => ({
  status: 401,
  headers: { ...NO_STORE, 'www-authenticate': challengeFor(authorization, failure) },
  body: {
    error: failure,
    message: AUTH_MESSAGES[failure],
    ...(failure === 'session_expired' && ending && { reason: ending.reason, ...(ending.reason === 'revoked' && ending.cause && { cause: ending.cause }) }),
  },
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
