import { createHash, timingSafeEqual } from 'node:crypto'
import { CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE } from './constants.js'

/**
 * Where a request carries its Gatehouse token, read exactly as Gatehouse reads it: Gatehouse
 * imports this module, so a service using the library can never disagree with it about which
 * header or cookie holds the token.
 */

/** Far longer than any token Gatehouse issues; anything longer is not worth parsing. */
export const MAX_TOKEN_LENGTH = 4096

/**
 * Extracts the token from an Authorization header exactly as Rails'
 * `authenticate_with_http_token` does (ActionController::HttpAuthentication::Token), so the
 * mobile app's `Token token=<t>` works unchanged:
 *
 *   Token token=abc                       -> abc
 *   Token token="abc", device="ios"       -> abc   (params after , ; or TAB are ignored)
 *   Token abc                             -> abc   (a first param without token= is the token)
 *   Bearer abc                            -> abc
 *
 * Unlike Rails, the scheme is matched case-insensitively. Returns null when there is no token.
 */
const SCHEME = /^(?:token|bearer)\s+/i
const PARAM_DELIMITERS = /[,;\t]/
const TOKEN_KEY = 'token='

export function parseTokenHeader (header: string | undefined): string | null {
  if (!header) return null
  const scheme = SCHEME.exec(header)
  if (!scheme) return null

  const params = header
    .slice(scheme[0].length)
    .split(PARAM_DELIMITERS)
    .map((param) => param.trim())
    .filter((param) => param !== '')
  const first = params[0]
  if (first === undefined) return null

  const pair = first.startsWith(TOKEN_KEY) ? first : TOKEN_KEY + first
  // Rails splits on the first '=' only and strips one leading and one trailing quote.
  const value = pair.slice(TOKEN_KEY.length).replace(/^"|"$/g, '')
  return value === '' ? null : value
}

/** The web app's cookies. Which names are in use depends on how Gatehouse is configured. */
export interface CookieNames {
  /** The names the session cookie may have, the preferred first. */
  session: readonly string[]
  /** The readable CSRF cookie Gatehouse sets beside it. */
  csrf: string
}

/**
 * - `__Host-` (the default): only this host can set it, so a sibling subdomain cannot plant one.
 * - `__Secure-` with a Domain (`shared`: Gatehouse's COOKIE_DOMAIN is set): sent to every
 *   subdomain; a `__Host-` cookie left from before the switch is still read (it is the stricter
 *   kind), so nobody is logged out. Never read otherwise: any sibling could plant one.
 * - No prefix: plain-http development only (COOKIE_SECURE=false).
 */
export function cookieNames ({ secure, shared }: { secure: boolean, shared: boolean }): CookieNames {
  if (!secure) return { session: [SESSION_COOKIE.plainHttp], csrf: CSRF_COOKIE.plainHttp }
  if (shared) return { session: [SESSION_COOKIE.hostOnly, SESSION_COOKIE.shared], csrf: CSRF_COOKIE.shared }
  return { session: [SESSION_COOKIE.hostOnly], csrf: CSRF_COOKIE.hostOnly }
}

/** Returned by `tokenFromCookies` when one cookie name comes with two different values. */
export const AMBIGUOUS = Symbol('ambiguous session cookie')

/**
 * The session token from a Cookie header: the first of `names` that is present. A name sent twice
 * with different values (a cookie planted by a sibling subdomain beside the real one, "cookie
 * tossing") is AMBIGUOUS: refused, never guessed between.
 */
export function tokenFromCookies (header: string | undefined, names: readonly string[]): string | typeof AMBIGUOUS | undefined {
  if (!header) return undefined
  const found = new Map<string, string | typeof AMBIGUOUS>()
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq < 0) continue
    // Only spaces and tabs are trimmed (RFC 6265 5.2): String#trim would also strip U+00A0, so a
    // planted "\u00a0__Host-gatehouse_session", which no browser treats as prefixed, would pass
    // for the real __Host- cookie.
    const name = trimOws(pair.slice(0, eq))
    if (!names.includes(name)) continue
    const value = trimOws(pair.slice(eq + 1)).replace(/^"(.*)"$/, '$1')
    const seen = found.get(name)
    found.set(name, seen === undefined || seen === value ? value : AMBIGUOUS)
  }
  for (const name of names) {
    const value = found.get(name)
    if (value !== undefined && value !== '') return value
  }
  return undefined
}

/** Strips spaces and tabs at both ends (a loop: a regex for the end would be quadratic on a long run of spaces). */
function trimOws (text: string): string {
  let start = 0
  let end = text.length
  while (start < end && (text[start] === ' ' || text[start] === '\t')) start++
  while (end > start && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--
  return text.slice(start, end)
}

// Where it always was for the library's users; defined with the names browser code needs too.
export { CSRF_HEADER }

/**
 * The CSRF token is derived from the session token: SHA-256 of it, under a label. Only a page
 * that can read our cookies can know it; an attacker who cannot read the session token cannot
 * compute it, and it changes with every session (no fixation, no store).
 */
export function csrfTokenFor (token: string): string {
  return createHash('sha256').update(`gatehouse-csrf:${token}`).digest('base64url')
}

/** Methods that do not change state: no CSRF proof needed. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

type Headers = Record<string, string | string[] | undefined>

/** The Origin header, or else the origin of the Referer; null if neither is usable. */
function originOf (headers: Headers): string | null {
  const origin = headers.origin
  if (typeof origin === 'string' && origin !== '') return origin
  const referer = headers.referer
  if (typeof referer !== 'string') return null
  try {
    return new URL(referer).origin
  } catch {
    return null
  }
}

/** Why a request does not come from one of `allowedOrigins`' pages, or null if it does. `listName` names the list in the answer. */
export function originRejection (headers: Headers, allowedOrigins: ReadonlySet<string>, listName = 'the allowed origins'): string | null {
  // Fetch Metadata: a browser says when a request comes from another site altogether.
  const site = headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'same-site') return `Sec-Fetch-Site is ${site}`
  const origin = originOf(headers)
  if (origin === null) return 'no Origin or Referer header'
  if (!allowedOrigins.has(origin)) return `origin ${origin} is not in ${listName}`
  return null
}

/**
 * Why a cookie-authenticated request fails the CSRF check, or null if it passes: a request that
 * changes state must come from an allowed origin and carry X-CSRF-Token for this very session.
 */
export function csrfRejection (request: { method: string, headers: Headers }, token: string, allowedOrigins: ReadonlySet<string>, listName?: string): string | null {
  if (SAFE_METHODS.has(request.method)) return null
  const badOrigin = originRejection(request.headers, allowedOrigins, listName)
  if (badOrigin !== null) return badOrigin
  const sent = request.headers[CSRF_HEADER]
  if (typeof sent !== 'string' || sent === '') return `no ${CSRF_HEADER} header`
  const expected = Buffer.from(csrfTokenFor(token))
  const given = Buffer.from(sent)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return `${CSRF_HEADER} does not match the session`
  return null
}
