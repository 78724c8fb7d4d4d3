import { AUTH_MESSAGES, csrfMessage, type Ending, unavailableMessage } from '@gatehouse/session-reader/answers'

/**
 * The failures Gatehouse's core can report, as stable codes with a message for humans. Nothing
 * here speaks HTTP: src/http/error-map.ts turns each code into a status and headers, and the CLI
 * into an exit code and a line of text.
 */
export type ErrorCode =
  | 'missing_token'
  | 'invalid_token'
  | 'session_expired'
  | 'invalid_credentials'
  | 'invalid_client'
  | 'email_taken'
  | 'invalid_password'
  | 'email_unverified'
  | 'invalid_reset_token'
  | 'invalid_verification_token'
  | 'forbidden'
  | 'csrf_rejected'
  | 'session_not_found'
  | 'user_not_found'
  | 'conflict'
  | 'bad_request'
  | 'busy'
  | 'overloaded'
  | 'too_many_streams'
  | 'too_many_attempts'
  | 'unavailable'
  | 'not_ready'

export type Dependency = 'redis' | 'postgres'

export interface ErrorDetail {
  /** too_many_attempts: seconds until the limit resets. */
  retryAfterSeconds?: number
  /** unavailable: which dependency did not answer. */
  dependency?: Dependency
  /** session_expired: why the session ended, when that is known (told to the app). */
  ending?: Ending
}

/** Codes that report a fault of ours or of a dependency, rather than answer a caller's mistake. */
const FAULTS: ReadonlySet<ErrorCode> = new Set(['busy', 'overloaded', 'unavailable'])

export class GatehouseError extends Error {
  readonly code: ErrorCode
  readonly detail: ErrorDetail

  constructor (code: ErrorCode, message: string, detail: ErrorDetail = {}) {
    // An answer to a caller's mistake is not a fault: its stack trace would never be read, and
    // capturing one is the largest single cost of rejecting a bad token. Faults keep theirs.
    const stackTraceLimit = Error.stackTraceLimit
    if (!FAULTS.has(code)) Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = stackTraceLimit
    this.code = code
    this.detail = detail
    this.name = 'GatehouseError'
  }

  get isFault (): boolean {
    return FAULTS.has(this.code)
  }
}

export const isGatehouseError = (err: unknown, code?: ErrorCode): err is GatehouseError =>
  err instanceof GatehouseError && (code === undefined || err.code === code)

/** The caller is not (or no longer) signed in: a missing, invalid or expired token or session. */
export const isUnauthenticated = (err: unknown): err is GatehouseError =>
  isGatehouseError(err) && (err.code === 'missing_token' || err.code === 'invalid_token' || err.code === 'session_expired')

export const errors = {
  // Authentication failures say only "missing", "invalid" or "expired": never which check failed.
  // Worded in the session reader library, whose middleware gives other services' callers the same.
  missingToken: () => new GatehouseError('missing_token', AUTH_MESSAGES.missing_token),
  invalidToken: () => new GatehouseError('invalid_token', AUTH_MESSAGES.invalid_token),
  expiredSession: (ending?: Ending) => new GatehouseError('session_expired', AUTH_MESSAGES.session_expired, ending ? { ending } : {}),
  invalidCredentials: () => new GatehouseError('invalid_credentials', 'Email or password is incorrect'),
  invalidClient: () => new GatehouseError('invalid_client', 'Introspection needs a service credential: Authorization: Bearer <INTROSPECTION_TOKENS entry>'),
  emailTaken: () => new GatehouseError('email_taken', 'An account with this email already exists'),
  /** An authenticated caller re-entering their password got it wrong (the session itself is fine). */
  wrongPassword: () => new GatehouseError('invalid_password', 'The current password is incorrect'),
  /** The password was right (REQUIRE_VERIFIED_EMAIL), so this tells only the account's owner something. */
  emailUnverified: () => new GatehouseError('email_unverified', 'Confirm your email address first: follow the link in the mail we sent (POST /email-verifications sends another)'),
  /** Used, expired, unknown or malformed: one answer for all, so a token's fate tells nobody anything. */
  invalidResetToken: () => new GatehouseError('invalid_reset_token', 'This reset link is invalid or has expired; ask for a new one'),
  invalidVerificationToken: () => new GatehouseError('invalid_verification_token', 'This verification link is invalid or has expired; ask for a new one'),
  forbidden: () => new GatehouseError('forbidden', 'This needs the admin role'),
  csrfRejected: (why: string) => new GatehouseError('csrf_rejected', csrfMessage(why)),
  /** Also the answer for another user's session: whether it exists is not the caller's business. */
  sessionNotFound: () => new GatehouseError('session_not_found', 'You have no session with this id'),
  userSessionNotFound: () => new GatehouseError('session_not_found', 'This user has no live session with this id'),
  userNotFound: () => new GatehouseError('user_not_found', 'No user with this id'),
  conflict: (message: string) => new GatehouseError('conflict', message),
  badRequest: (message: string) => new GatehouseError('bad_request', message),
  /** A login kept losing the race against revocations of the same user's sessions. */
  busy: () => new GatehouseError('busy', 'The account is being changed; try again shortly'),
  /** More password checks waiting than BCRYPT_MAX_QUEUE: shed load now rather than answer late. */
  overloaded: () => new GatehouseError('overloaded', 'Too many sign-ins at once; try again shortly'),
  /** An event stream is refused: the instance serves its most, or the caller's session or user already holds its share (http/sse.ts). */
  tooManyStreams: (held: 'instance' | 'session' | 'user', max: number) => new GatehouseError('too_many_streams', {
    instance: `This instance already serves ${max} event streams; try again shortly`,
    session: `This session already has ${max} event streams open (other tabs?); close one, or try again shortly`,
    user: `This user already has ${max} event streams open on this instance; close one, or try again shortly`,
  }[held]),
  /** A brute-force limit (login failures, sign-ups) is used up; `seconds` until it resets. */
  tooManyAttempts: (seconds: number) =>
    new GatehouseError('too_many_attempts', `Too many attempts; try again in ${seconds} s`, { retryAfterSeconds: seconds }),
  /** Redis or Postgres did not answer in time: fail closed, the caller may retry. */
  unavailable: (dependency: Dependency) =>
    new GatehouseError('unavailable', unavailableMessage(dependency), { dependency }),
  // GET /ready's answers, never thrown: this instance should get no new traffic for now.
  notReady: (down: Dependency[]) => new GatehouseError('not_ready', `Not ready: ${down.join(' and ')} unavailable`),
  /** From the moment a shutdown begins; the requests in flight still finish. */
  shuttingDown: () => new GatehouseError('not_ready', 'Shutting down: finishing the requests in flight'),
}

/** Runs `work`; any failure of the dependency becomes `unavailable` (GatehouseErrors pass through unchanged). */
export async function orUnavailable<T> (dependency: Dependency, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    if (err instanceof GatehouseError) throw err
    throw Object.assign(errors.unavailable(dependency), { cause: err })
  }
}
