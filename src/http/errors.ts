/**
 * One error type for every failure a client can see. `code` is stable (clients and tests match
 * on it); `message` is for humans. The error handler turns it into `{ error, message }`.
 */
export class AppError extends Error {
  constructor (
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {}
  ) {
    // A 4xx is an answer to the client, not a fault: its stack trace would never be read, and
    // capturing one was the largest single cost of the 401 path (6.5% of its CPU). 5xx keep theirs.
    const stackTraceLimit = Error.stackTraceLimit
    if (statusCode < 500) Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = stackTraceLimit
    this.name = 'AppError'
  }
}

/** RFC 9110 §15.5.2: a 401 MUST carry a challenge; this is the scheme the API reads tokens with. */
export const AUTH_CHALLENGE = { 'www-authenticate': 'Token realm="Application"' }
/** Seconds a client should wait before retrying when a dependency is down. */
export const RETRY_AFTER_SECONDS = 5

export const errors = {
  // 401s say only "missing", "invalid" or "expired": never which check failed.
  missingToken: () => new AppError(401, 'missing_token', 'Authentication required: send Authorization: Token token=<token>', AUTH_CHALLENGE),
  invalidToken: () => new AppError(401, 'invalid_token', 'The token is invalid', AUTH_CHALLENGE),
  expiredSession: () => new AppError(401, 'session_expired', 'The session has expired or was ended; log in again', AUTH_CHALLENGE),
  invalidCredentials: () => new AppError(401, 'invalid_credentials', 'Email or password is incorrect', AUTH_CHALLENGE),
  emailTaken: () => new AppError(409, 'email_taken', 'An account with this email already exists'),
  /** An authenticated caller re-entering their password got it wrong (403: the session itself is fine). */
  wrongPassword: () => new AppError(403, 'invalid_password', 'The current password is incorrect'),
  forbidden: () => new AppError(403, 'forbidden', 'This needs the admin role'),
  /** Also the answer for another user's session: whether it exists is not the caller's business. */
  sessionNotFound: () => new AppError(404, 'session_not_found', 'You have no session with this id'),
  userNotFound: () => new AppError(404, 'user_not_found', 'No user with this id'),
  conflict: (message: string) => new AppError(409, 'conflict', message),
  badRequest: (message: string) => new AppError(400, 'bad_request', message),
  /** A login kept losing the race against revocations of the same user's sessions. */
  busy: () =>
    new AppError(503, 'service_unavailable', 'The account is being changed; try again shortly', { 'retry-after': String(RETRY_AFTER_SECONDS) }),
  /** More password checks waiting than BCRYPT_MAX_QUEUE: shed load now rather than answer late. */
  overloaded: () =>
    new AppError(503, 'service_unavailable', 'Too many sign-ins at once; try again shortly', { 'retry-after': String(RETRY_AFTER_SECONDS) }),
  /** A brute-force limit (login failures, sign-ups) is used up; `seconds` until it resets. */
  tooManyAttempts: (seconds: number) =>
    new AppError(429, 'too_many_requests', `Too many attempts; try again in ${seconds} s`, { 'retry-after': String(seconds) }),
  /** Redis or Postgres did not answer in time: fail closed, tell the client to retry. */
  unavailable: (dependency: 'redis' | 'postgres') =>
    new AppError(503, 'service_unavailable', `The service is temporarily unavailable (${dependency}); try again shortly`, {
      'retry-after': String(RETRY_AFTER_SECONDS),
    }),
}

/** Runs `work`; any failure of the dependency becomes a 503 (AppErrors pass through unchanged). */
export async function orUnavailable<T> (dependency: 'redis' | 'postgres', work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    if (err instanceof AppError) throw err
    throw Object.assign(errors.unavailable(dependency), { cause: err })
  }
}
