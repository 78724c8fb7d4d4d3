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
/** Far longer than any token Gatehouse issues; anything longer is not worth parsing. */
export const MAX_TOKEN_LENGTH = 4096

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
