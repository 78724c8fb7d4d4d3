/**
 * A user id as PostgreSQL prints a `uuid`: lower-case hex digits, 8-4-4-4-12. It is the only
 * spelling Gatehouse accepts wherever a user id comes in (route parameters, token claims, the
 * repository), because Redis key names are built from it: PostgreSQL would match `A0B1…`,
 * `{a0b1…}` or `urn:uuid:a0b1…` to the same row, but as key names they would be other keys, and
 * a revocation or role change aimed at one of them would miss the user's sessions.
 */
export const USER_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

const USER_ID = new RegExp(USER_ID_PATTERN)

export const isUserId = (value: unknown): value is string => typeof value === 'string' && USER_ID.test(value)
