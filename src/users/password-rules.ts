import { errors } from '../shared/errors.js'

/** bcrypt reads at most 72 bytes; longer passwords would be silently truncated, so they are refused. */
export const MAX_PASSWORD_BYTES = 72
export const MIN_PASSWORD_LENGTH = 8

/** Refuses (400) a new password that bcrypt would silently truncate; `field` names it in the message. */
export function checkPasswordBytes (field: string, password: string): void {
  const bytes = Buffer.byteLength(password, 'utf8')
  if (bytes > MAX_PASSWORD_BYTES) {
    // Said in a way a user can act on: the password may be short in characters and still too long.
    throw errors.badRequest(`body/${field} must be at most ${MAX_PASSWORD_BYTES} bytes in UTF-8, and this one is ${bytes}: letters with accents take 2 bytes and most emoji 4, so a password of ${[...password].length} characters can be too long. Use a shorter one`)
  }
}
