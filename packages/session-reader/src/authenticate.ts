import { type Answer, csrfRejected, unauthorized, unavailable } from './answers.js'
import { AMBIGUOUS, cookieNames, csrfRejection, MAX_TOKEN_LENGTH, parseTokenHeader, tokenFromCookies } from './credentials.js'
import { ReaderUnavailableError } from './errors.js'
import type { NotLive } from './liveness.js'
import type { SessionReader, SessionSnapshot } from './reader.js'

export interface AuthenticateOptions {
  reader: SessionReader
  /**
   * Also accept the web app's session cookie (`__Host-`/`__Secure-gatehouse_session`). A request
   * that changes state with it must then pass the same CSRF check as at Gatehouse: come from one
   * of `allowedOrigins` and carry `X-CSRF-Token`. Off by default: a service that takes cookies
   * without that check would be open to cross-site request forgery.
   */
  cookie?: {
    allowedOrigins: readonly string[]
    /**
     * Gatehouse sets COOKIE_DOMAIN: also read `__Secure-gatehouse_session`, the cookie scoped to the
     * domain (a service on a sibling subdomain receives only that one). Off: only the host-only
     * `__Host-` cookie, which no sibling subdomain can plant.
     */
    shared?: boolean
    /** Read the plain-http development name `gatehouse_session` instead (COOKIE_SECURE=false). Never in production. */
    insecure?: boolean
  }
  /** The header a client names its audience in: Gatehouse's JWT_AUD_HEADER (default `JWT-Aud`). */
  audienceHeader?: string
  /**
   * Slide the session with use here, through Gatehouse's POST /introspect (needs the reader's
   * `introspection`): at most once per tenth of the idle timeout per session (`extendIfDue`), so a
   * user active only in this service stays signed in at the cost of a few calls a minute. The slide
   * runs beside the request, never holding it up; a failure goes to `onFault`.
   */
  extend?: boolean
  /** Told about faults worth a log line: a dependency down, a layout this library does not know. */
  onFault?: (err: Error) => void
}

export type AuthOutcome = { ok: true, session: SessionSnapshot } | { ok: false, answer: Answer }

interface RequestLike {
  method: string
  headers: Record<string, string | string[] | undefined>
}

/**
 * Not live for the caller's own reasons: the 401 Gatehouse gives, with why the session ended;
 * null for the service's fault. A hash that is not the token's (no_session) ended with nothing to
 * tell of it, as a session Redis let expire: idle.
 */
function answerOf ({ reason, cause }: NotLive, authorization: string | undefined): Answer | null {
  switch (reason) {
    case 'unknown_version': return null
    case 'invalid_token':
    case 'wrong_audience': return unauthorized('invalid_token', undefined, authorization)
    case 'no_session': return unauthorized('session_expired', { reason: 'idle' }, authorization)
    default: return unauthorized('session_expired', { reason, ...(cause && { cause }) }, authorization)
  }
}

/**
 * The gate, without any web framework: from a request's method and headers to the live session or
 * the exact answer Gatehouse would give (401 with its challenge and body, 403 for CSRF, 503 when a
 * dependency is down). The Fastify plugin and the Express middleware are thin wrappers of it.
 */
export function authenticateRequest (options: AuthenticateOptions): (request: RequestLike) => Promise<AuthOutcome> {
  const { reader, extend = false, onFault = () => {} } = options
  const audienceHeader = (options.audienceHeader ?? 'JWT-Aud').toLowerCase()
  const cookie = options.cookie
  const names = cookie ? cookieNames({ secure: !cookie.insecure, shared: cookie.shared === true }).session : []
  const allowedOrigins = new Set(cookie?.allowedOrigins ?? [])
  if (cookie && allowedOrigins.size === 0) throw new TypeError('cookie.allowedOrigins: name the web app origins whose pages may use the session cookie')

  const fail = (answer: Answer): AuthOutcome => ({ ok: false, answer })
  const down = (err: ReaderUnavailableError): AuthOutcome => {
    onFault(err)
    return fail(unavailable(err.dependency))
  }

  return async function authenticate (request) {
    // The 401's challenge follows the scheme the caller used (Bearer or Token).
    const authorization = single(request.headers.authorization)
    const header = parseTokenHeader(authorization)
    const token = header ?? (cookie ? tokenFromCookies(single(request.headers.cookie), names) : undefined)
    if (token === undefined) return fail(unauthorized('missing_token', undefined, authorization))
    if (token === AMBIGUOUS || token.length > MAX_TOKEN_LENGTH) return fail(unauthorized('invalid_token', undefined, authorization))
    try {
      // In Gatehouse's order: the token, then (for a cookie) the CSRF check, then the session.
      const verified = await reader.verify(token, { audience: single(request.headers[audienceHeader]) ?? null })
      if (!verified.ok) return fail(answerOf(verified, authorization)!)
      if (header === null) {
        const why = csrfRejection(request, token, allowedOrigins)
        if (why !== null) return fail(csrfRejected(why))
      }
      const result = await reader.session(verified.claims)
      if (!result.live) {
        const answer = answerOf(result, authorization)
        if (answer !== null) return fail(answer)
        onFault(new Error('a session hash has a layout version this reader does not know: upgrade @gatehouse/session-reader'))
        return fail(unavailable('session layout'))
      }
      // In the background: the session is live by Redis now, and the slide only keeps it so. A slide
      // that fails (Gatehouse down or slow) holds up no request; the next due request tries again.
      if (extend) reader.extendIfDue(token, result.session).catch((err: Error) => onFault(err))
      return { ok: true, session: result.session }
    } catch (err) {
      if (err instanceof ReaderUnavailableError) return down(err)
      throw err
    }
  }
}

const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value)
