/**
 * The names and spellings that Gatehouse, the services reading its sessions and the browser pages
 * using its cookies must agree on, written once. This module imports nothing, from Node or
 * anywhere, so browser code can bundle it as it is (Gatehouse's ops console does):
 * `@gatehouse/session-reader/constants`. credentials.ts and token.ts apply them.
 */

/**
 * The session cookie (HttpOnly: the token), by how Gatehouse is configured:
 * - `hostOnly`, the default: only this host can set a `__Host-` cookie, so a sibling subdomain
 *   cannot plant one;
 * - `shared`, with COOKIE_DOMAIN: sent to every subdomain of that domain;
 * - `plainHttp`, with COOKIE_SECURE=false: local development over plain http only.
 */
export const SESSION_COOKIE = {
  hostOnly: '__Host-gatehouse_session',
  shared: '__Secure-gatehouse_session',
  plainHttp: 'gatehouse_session',
} as const

/** The readable CSRF cookie Gatehouse sets beside the session cookie, under the matching name. */
export const CSRF_COOKIE = {
  hostOnly: '__Host-gatehouse_csrf',
  shared: '__Secure-gatehouse_csrf',
  plainHttp: 'gatehouse_csrf',
} as const

/**
 * Every name the CSRF cookie may have, in the order Gatehouse reads the session cookies
 * (`__Host-` before `__Secure-`): a page that finds two takes the first, which belongs to the
 * session cookie Gatehouse will read.
 */
export const CSRF_COOKIE_NAMES: readonly string[] = [CSRF_COOKIE.hostOnly, CSRF_COOKIE.shared, CSRF_COOKIE.plainHttp]

/** The header a page sends the CSRF token back in, on every change made with the session cookie (lower case, as Node gives header names). */
export const CSRF_HEADER = 'x-csrf-token'

/**
 * A user id as PostgreSQL prints a `uuid`: lower-case hex digits, 8-4-4-4-12. The only spelling
 * accepted anywhere, because Redis key names are built from it: `A0B1…`, `{a0b1…}` or
 * `urn:uuid:a0b1…` name the same user in PostgreSQL but other keys in Redis. A string, for JSON
 * schemas (`pattern`) as much as for `new RegExp`.
 */
export const USER_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
