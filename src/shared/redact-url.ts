/** The URL without its password (in the user part, or a `password` parameter), fit for a log line or an error message. */
export function redactUrl (url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***')
  return parsed.toString()
}

const REDACTED = '[redacted]'

/**
 * The query parameters whose values the access log keeps, in the only shape their route accepts:
 * the session lists' paging (`cursor` is the previous page's `next_cursor`: an instant and a
 * session id, which names a session and grants nothing; the shape of SESSION_CURSOR_PATTERN) and
 * DELETE /sessions' `all`. Names are exact, as Fastify's query parser reads them (`LIMIT` is
 * another parameter, which the routes refuse).
 */
const LOGGED_VALUES = new Map([
  ['limit', /^[0-9]{1,3}$/],
  ['cursor', /^[0-9]{1,16}\.[A-Za-z0-9_-]{22}$/],
  ['all', /^(?:true|false)$/],
])

/** The other names the routes read: these may stand alone (`?email`) in the log. `q`, the admin's search, is part of an email: its value is never logged either. */
const KNOWN_NAMES = new Set([...LOGGED_VALUES.keys(), 'email', 'q'])

/**
 * Every credential Gatehouse issues or takes is at least this long (account-mail tokens 43
 * characters, INTROSPECTION_TOKENS 32 or more, session tokens JWTs), and no parameter name nears it.
 */
const CREDENTIAL_LENGTH = 32

/** A JWT's header, from its start: `{` is base64url `e`, then w-z, 0-9, - or _; at least 10 characters. */
const JWT_HEADER = /e[w-z0-9_-][A-Za-z0-9_-]{8}/

/**
 * Whether `text` holds a JWT: a header, a payload of 8 characters or more and a signature, joined
 * by dots. Read a run of base64url text at a time, not with one regex: searched from every `e` of
 * a long run, a regex costs the square of the URL's length (seconds for a 64 KB path, on the
 * access-log line of any unauthenticated request). Each check here is of fixed length.
 */
function holdsJwt (text: string): boolean {
  if (!text.includes('.')) return false
  for (const run of text.split(/[^A-Za-z0-9_.-]+/)) {
    const parts = run.split('.')
    for (let i = 0; i + 2 < parts.length; i++) {
      if (parts[i + 1]!.length >= 8 && JWT_HEADER.test(parts[i]!)) return true
    }
  }
  return false
}

/** Past this, the logged path is cut (after redaction): a 16 KB path says no more than its start. */
const MAX_LOGGED_PATH = 2048

/**
 * A request's URL as the access log records it: the path, and each query parameter's name with
 * its value `[redacted]` unless LOGGED_VALUES lists it. No value that could be a credential (a
 * token sent as `?token=`, `?password=`) or personal (`?email=`) is written, however its name is
 * spelled (`e%6Dail`, `email[]`, `EMAIL`): names are judged after decoding as Fastify decodes them
 * (`+` a space, then percent-escapes). Redacted whole: a parameter whose name does not decode or is
 * credential-long, one without `=` whose name the API does not read (its text may be a value), and
 * a path segment holding a JWT.
 */
export function urlForLog (url: string): string {
  // Fastify's router ends the path at the first `?` or `#`, and parses everything after as the query.
  const end = url.search(/[?#]/)
  const path = end === -1 ? url : url.slice(0, end)
  const redacted = holdsJwt(path) || path.includes('%') ? path.split('/').map(pathSegment).join('/') : path
  const loggedPath = redacted.length > MAX_LOGGED_PATH ? `${redacted.slice(0, MAX_LOGGED_PATH)}…[truncated]` : redacted
  if (end === -1) return loggedPath
  return `${loggedPath}${url[end]}${url.slice(end + 1).split('&').map(queryParameter).join('&')}`
}

/** A segment holding a JWT, as sent or decoded, is redacted; so is one that does not decode (Fastify refuses the URL, and its escapes could hide one). */
function pathSegment (segment: string): string {
  const text = decoded(segment)
  return text === null || holdsJwt(segment) || holdsJwt(text) ? REDACTED : segment
}

function queryParameter (parameter: string): string {
  if (parameter === '') return parameter
  const equals = parameter.indexOf('=')
  const rawName = equals === -1 ? parameter : parameter.slice(0, equals)
  const name = decoded(rawName.replaceAll('+', ' '))
  if (name === null || name.length >= CREDENTIAL_LENGTH) return REDACTED
  if (equals === -1) return KNOWN_NAMES.has(name) ? rawName : REDACTED
  const value = parameter.slice(equals + 1)
  return `${rawName}=${LOGGED_VALUES.get(name)?.test(value) === true ? value : REDACTED}`
}

/** A percent-encoded text decoded, or null when it does not decode (a stray `%`, invalid UTF-8). */
function decoded (text: string): string | null {
  if (!text.includes('%')) return text
  try {
    return decodeURIComponent(text)
  } catch {
    return null
  }
}
