/**
 * A user id as PostgreSQL prints a `uuid`: lower-case hex digits, 8-4-4-4-12. It is the only
 * spelling Gatehouse accepts wherever a user id comes in (route parameters, token claims, the
 * repository), because Redis key names are built from it: PostgreSQL would match `A0B1…`,
 * `{a0b1…}` or `urn:uuid:a0b1…` to the same row, but as key names they would be other keys, and
 * a revocation or role change aimed at one of them would miss the user's sessions. Defined once,
 * in the session reader library, so other services refuse exactly what Gatehouse refuses.
 */
export { USER_ID_PATTERN } from '@gatehouse/session-reader/constants'
export { isUserId } from '@gatehouse/session-reader/token'

/** A whole-string pattern (`^…$`) as a part of a longer one, e.g. a cursor that holds a user id. */
export const unanchored = (pattern: string) => pattern.replace(/^\^/, '').replace(/\$$/, '')
