/** Emails are compared case-insensitively: stored trimmed and lower-cased. */
export function normaliseEmail (email: string): string {
  return email.trim().toLowerCase()
}

/**
 * What sign-up takes as an email: dot-separated atoms, an @, and a domain of at least two labels
 * (so `0@com` is refused), ASCII only. The one rule: the sign-up schema carries it as `pattern`,
 * so the OpenAPI document states exactly what the server enforces (`format: email` would let each
 * client generator's validator apply its own idea of an email). As ajv-formats' "full" email.
 */
export const EMAIL_PATTERN = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"

/**
 * No email holds a control character (U+0000 to U+001F, U+007F), and PostgreSQL refuses U+0000
 * in text outright (an error, not "no such user"). As a JSON-schema pattern, for every email the
 * API takes, and as a test for everything else that looks a user up by email.
 */
export const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001F\\u007F]*$'
const noControlCharacters = new RegExp(NO_CONTROL_CHARACTERS, 'u')
export const hasControlCharacters = (text: string) => !noControlCharacters.test(text)
