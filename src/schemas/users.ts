import { SESSION_ID_PATTERN } from '@gatehouse/session-reader/token'
import { EMAIL_PATTERN, NO_CONTROL_CHARACTERS } from '../shared/email.js'
import { USER_ID_PATTERN } from '../shared/user-id.js'
import { MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH } from '../users/password-rules.js'
import { ROLES } from '../users/roles.js'
import { CONTAINS_MIN_LENGTH, USER_CURSOR_PATTERN, USER_PAGE_DEFAULT, USER_PAGE_MAX } from '../users/user-list.js'
import { SUMMARY_READ } from '../sessions/types.js'
import { pageLimit, user } from './common.js'
import { clientLabel, loginResponse, sessionClock } from './sessions.js'

/**
 * bcrypt reads 72 bytes, so that is the rule, on the UTF-8 bytes (checkPasswordBytes). JSON Schema
 * counts characters only: maxLength is the bound that follows from it (no character is under one
 * byte), and the description states the rule itself.
 */
const newPassword = {
  type: 'string',
  minLength: MIN_PASSWORD_LENGTH,
  maxLength: MAX_PASSWORD_BYTES,
  description: `${MIN_PASSWORD_LENGTH} characters or more, and at most ${MAX_PASSWORD_BYTES} bytes in UTF-8: 72 ASCII characters, fewer with others (é takes 2 bytes, most emoji 4). A longer password is refused (400), never cut`,
} as const

export const signUpBody = {
  type: 'object',
  required: ['email', 'password'],
  additionalProperties: false,
  properties: {
    email: { type: 'string', maxLength: 254, pattern: EMAIL_PATTERN, description: 'An address with a domain of two labels or more (the pattern is the whole rule); compared case-insensitively' },
    password: newPassword,
    sign_in: { type: 'boolean', description: 'true: also sign in, answering as POST /sessions does (one request, one password hash)' },
    client: { ...clientLabel, description: `With sign_in only (a plain sign-up ignores it). ${clientLabel.description}` },
    transport: { type: 'string', enum: ['header', 'cookie'] },
  },
} as const

/** X-Client names the session of a sign-up with `sign_in` (read then, as at login); a plain sign-up ignores it. */
export const signUpHeaders = {
  type: 'object',
  properties: { 'x-client': { type: 'string', description: `With sign_in only (a plain sign-up ignores it), as at POST /sessions. ${clientLabel.description}` } },
} as const

/** 201: the user; with `sign_in`, the session too, as a login gives it (none while REQUIRE_VERIFIED_EMAIL waits for the email). */
export const signUpResponse = {
  type: 'object',
  required: ['user'],
  additionalProperties: false,
  properties: { ...loginResponse.properties, ...sessionClock },
} as const

/** POST /password-resets, POST /email-verifications: any email is taken (a malformed one simply has no account). */
export const mailRequestBody = {
  type: 'object',
  required: ['email'],
  additionalProperties: false,
  properties: { email: { type: 'string', minLength: 1, maxLength: 254, pattern: NO_CONTROL_CHARACTERS } },
} as const

/**
 * A mailed token as the client got it. Any string is taken here, so that every wrong one, of
 * whatever shape, gets the same invalid_*_token answer (the body limit bounds its size).
 */
const mailedToken = { type: 'string', description: 'The token from the mail (43 characters of base64url)' } as const

export const resetConfirmBody = {
  type: 'object',
  required: ['token', 'password'],
  additionalProperties: false,
  properties: { token: mailedToken, password: newPassword },
} as const

export const verificationConfirmBody = {
  type: 'object',
  required: ['token'],
  additionalProperties: false,
  properties: { token: mailedToken },
} as const

/** DELETE /me: the password again, so that a session left open on someone's phone cannot delete the account. */
export const accountDeletionBody = {
  type: 'object',
  required: ['password'],
  additionalProperties: false,
  properties: { password: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const

/** Exactly as the API writes user ids: other spellings of a UUID are refused (400), see user-id.ts. */
export const userIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: USER_ID_PATTERN, description: 'A user id as the API returns it: a UUID in lower case' } },
} as const

/**
 * An admin's lookup (`email`: exact, as the user typed it at sign-up, in any case), search (`q`)
 * or list (neither), a page at a time. `q` is printable ASCII: sign-up takes nothing else
 * (EMAIL_PATTERN), so any other character could match nobody, and is refused (400) rather than
 * searched for; control characters among them (NO_CONTROL_CHARACTERS).
 */
export const userSearchQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    email: { type: 'string', minLength: 1, maxLength: 254, pattern: NO_CONTROL_CHARACTERS, description: 'Exact lookup: the one user with this email (any case, trimmed), or none. Not with `q`, `cursor` or `limit`' },
    q: {
      type: 'string',
      maxLength: 254,
      pattern: '^[\\u0020-\\u007E]*$',
      description: `Search: users whose email contains this text (trimmed, any case; \`%\` and \`_\` are only characters). Without ${CONTAINS_MIN_LENGTH} letters or digits in a row (\`bo\`, \`...\`), only emails that start with it: a search anywhere needs them. A search most emails match (\`com@\`) may be refused (400, type more) rather than run long. Printable ASCII only, as emails are; empty: the whole list`,
    },
    cursor: { type: 'string', pattern: USER_CURSOR_PATTERN, description: 'The `next_cursor` of the page before, as it came' },
    limit: pageLimit('Users', USER_PAGE_MAX, USER_PAGE_DEFAULT),
  },
} as const

/** A user on the admin's list, with their sessions at a glance (SessionStore.summaries). */
const listedUser = {
  type: 'object',
  required: [...user.required, 'live_sessions', 'last_seen_at'],
  additionalProperties: false,
  properties: {
    ...user.properties,
    live_sessions: { type: 'integer', minimum: 0, description: `The user's live sessions (exact up to ${SUMMARY_READ}; above that, counted from the user's session index: docs/api.md)` },
    last_seen_at: { type: ['string', 'null'], format: 'date-time', description: 'The latest use of any of the user\'s live sessions; null when the user has none' },
  },
} as const

/** A page of users: newest first; the exact lookup's is its one user or none. */
export const userList = {
  type: 'object',
  required: ['users', 'next_cursor'],
  additionalProperties: false,
  properties: {
    users: { type: 'array', items: listedUser },
    next_cursor: { type: ['string', 'null'], description: 'Pass it as `cursor` for the next page (with the same `q`); null on the last page' },
  },
} as const

/** One of a user's sessions, named by an admin: the user id as in userIdParams, the session id as Gatehouse makes them. */
export const userSessionParams = {
  type: 'object',
  required: ['id', 'session_id'],
  properties: {
    id: userIdParams.properties.id,
    session_id: { type: 'string', pattern: SESSION_ID_PATTERN.source, description: 'A session id as the API lists it (the token\'s jti)' },
  },
} as const

export const passwordChangeBody = {
  type: 'object',
  required: ['current_password', 'new_password'],
  additionalProperties: false,
  properties: {
    current_password: { type: 'string', minLength: 1, maxLength: 1024 },
    new_password: newPassword,
  },
} as const

export const roleChangeBody = {
  type: 'object',
  required: ['role'],
  additionalProperties: false,
  properties: { role: { type: 'string', enum: ROLES } },
} as const
