import { errors } from '../shared/errors.js'

// The label a login names its device by (body `client` or the X-Client header), as the session
// list shows it. Cosmetic: no policy follows from it (that is the token's `aud`), so whatever an
// app sends is taken and cut to size rather than refused; only what would garble the list is not.

/** The longest label kept, in Unicode code points (what `len()` counts in Python, `Array.from` here). */
export const MAX_DEVICE_LABEL_LENGTH = 64

/** One-line text only: C0, DEL and C1 controls (`\p{Cc}`), and the Unicode line and paragraph separators. */
const CONTROL = /[\p{Cc}\u2028\u2029]/u
/**
 * Bidi marks, embeddings, overrides and isolates: shown in a list, U+202E would make the label
 * (and what follows it on the line) read backwards. Zero-width joiners stay: emoji sequences and
 * several scripts need them.
 */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g
/** With the `u` flag a well-formed pair is one code point, so this matches only lone halves (JSON allows them). */
const LONE_SURROGATE = /[\ud800-\udfff]/gu

/**
 * The stored label: bidi controls dropped, surrounding whitespace trimmed (empty means no label),
 * lone surrogates replaced by U+FFFD (as Redis would store them anyway, in UTF-8), then cut to
 * MAX_DEVICE_LABEL_LENGTH code points, never inside a surrogate pair. A control character or line
 * break anywhere in it is a 400 naming `where` (`body/client`, `headers/x-client`); the routes ask
 * before the password is checked, so such a login is no failed attempt and makes no session.
 */
export function deviceLabel (value: string, where: string): string {
  const label = value.replace(BIDI_CONTROLS, '').trim()
  if (CONTROL.test(label)) {
    throw errors.badRequest(`${where} must not contain control characters (U+0000 to U+001F, U+007F to U+009F) or line breaks`)
  }
  const wellFormed = label.replace(LONE_SURROGATE, '\ufffd')
  // Fewer UTF-16 units than the limit is fewer code points too: the usual short label costs nothing more.
  if (wellFormed.length <= MAX_DEVICE_LABEL_LENGTH) return wellFormed
  return Array.from(wellFormed).slice(0, MAX_DEVICE_LABEL_LENGTH).join('').trimEnd()
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * A header value as the app meant it. Node reads header bytes as latin1, one character per byte,
 * so `Café` sent as UTF-8 bytes (as OkHttp's addUnsafeNonAscii and most stacks that allow non-ASCII
 * headers do) arrives as `CafÃ©`. Bytes that form valid UTF-8 are read as UTF-8; other non-ASCII
 * bytes were meant as latin1 (`Caf\xe9`) and are kept so. Latin1 text that happens to be valid
 * UTF-8 too (`Ã©`) is rare enough to be read as UTF-8. A character above U+00FF never came off the
 * wire (app.inject can pass one): kept as it is.
 */
export function utf8HeaderValue (value: string): string {
  if (/[\u0100-\uffff]/.test(value) || !/[\u0080-\u00ff]/.test(value)) return value
  try {
    return utf8.decode(Buffer.from(value, 'latin1'))
  } catch {
    return value
  }
}
