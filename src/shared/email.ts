/** Emails are compared case-insensitively: stored trimmed and lower-cased. */
export function normaliseEmail (email: string): string {
  return email.trim().toLowerCase()
}

/**
 * No email holds a control character (U+0000 to U+001F, U+007F), and PostgreSQL refuses U+0000
 * in text outright (an error, not "no such user"). As a JSON-schema pattern, for every email the
 * API takes, and as a test for everything else that looks a user up by email.
 */
export const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001F\\u007F]*$'
const noControlCharacters = new RegExp(NO_CONTROL_CHARACTERS, 'u')
export const hasControlCharacters = (text: string) => !noControlCharacters.test(text)
