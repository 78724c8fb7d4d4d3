/**
 * JSON schemas: the single source of request validation and response serialisation
 * (a response can only ever contain the fields listed here).
 */
import { MAX_TOKEN_LENGTH } from '../http/auth-header.js'
import { MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH } from '../users/passwords.js'
import { SESSION_CURSOR_PATTERN, SESSION_PAGE_MAX } from '../sessions/store.js'
import { NO_CONTROL_CHARACTERS } from '../shared/email.js'
import { ROLES } from '../users/repository.js'
import { USER_ID_PATTERN } from '../shared/user-id.js'

export const errorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const

export const user = {
  type: 'object',
  required: ['id', 'email', 'role', 'createdAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', format: 'uuid' },
    email: { type: 'string' },
    role: { type: 'string', enum: ROLES },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const

export interface Credentials {
  email: string
  password: string
}

/** A client label a user recognises a session by ("ios", "web", "android 14"...). */
const clientLabel = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9 ._()/-]{0,63}$' } as const

const newPassword = { type: 'string', minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_BYTES } as const

export const signUpBody = {
  type: 'object',
  required: ['email', 'password'],
  additionalProperties: false,
  properties: {
    email: { type: 'string', format: 'email', maxLength: 254, pattern: NO_CONTROL_CHARACTERS },
    // Length in characters here; the 72-byte bcrypt limit is checked on the UTF-8 bytes in the route.
    password: newPassword,
  },
} as const

/** Login accepts any strings: a malformed email or password simply does not match (401). */
export const loginBody = {
  type: 'object',
  required: ['email', 'password'],
  additionalProperties: false,
  properties: {
    email: { type: 'string', minLength: 1, maxLength: 254, pattern: NO_CONTROL_CHARACTERS },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    client: clientLabel,
    // header: the token is in the answer (apps send it back in Authorization). cookie: it is set
    // in an HttpOnly cookie for a web app instead, and the answer carries the CSRF token.
    transport: { type: 'string', enum: ['header', 'cookie'] },
  },
} as const

export interface LoginBody extends Credentials {
  client?: string
  transport?: 'header' | 'cookie'
}

/** The optional X-Client header: the same label as the body's `client`. */
export const loginHeaders = {
  type: 'object',
  properties: { 'x-client': clientLabel },
} as const

export const userResponse = {
  type: 'object',
  required: ['user'],
  additionalProperties: false,
  properties: { user },
} as const

export const loginResponse = {
  type: 'object',
  required: ['user'],
  additionalProperties: false,
  properties: {
    user,
    token: { type: 'string', description: 'With the header transport: send it as Authorization: Token token=<token>' },
    csrf_token: { type: 'string', description: 'With the cookie transport: send it as X-CSRF-Token on POST, PUT and DELETE' },
  },
} as const

const timestamp = { type: 'string', format: 'date-time' } as const

/** One session as its owner (or an admin) sees it. The id is not a credential: see README. */
export const session = {
  type: 'object',
  required: ['id', 'current', 'client', 'user_agent', 'ip', 'created_at', 'last_seen_at', 'expires_at', 'max_expires_at'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    current: { type: 'boolean' },
    client: { type: 'string' },
    user_agent: { type: 'string' },
    ip: { type: 'string' },
    created_at: timestamp,
    last_seen_at: timestamp,
    expires_at: timestamp,
    max_expires_at: timestamp,
  },
} as const

const nextCursor = {
  type: ['string', 'null'],
  description: 'null on the last page; otherwise pass it back as `cursor` for the next page',
} as const

export const sessionList = {
  type: 'object',
  required: ['sessions', 'next_cursor'],
  additionalProperties: false,
  properties: { sessions: { type: 'array', items: session, maxItems: SESSION_PAGE_MAX }, next_cursor: nextCursor },
} as const

export const adminSessionList = {
  type: 'object',
  required: ['user', 'sessions', 'next_cursor'],
  additionalProperties: false,
  properties: { user, sessions: { type: 'array', items: session, maxItems: SESSION_PAGE_MAX }, next_cursor: nextCursor },
} as const

/** `?limit=&cursor=` of a session listing. Query values are strings (no type coercion here). */
export const sessionPageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'string', pattern: '^([1-9]|[1-9][0-9]|100)$', description: `Sessions per page, 1 to ${SESSION_PAGE_MAX} (default ${SESSION_PAGE_MAX})` },
    cursor: { type: 'string', pattern: SESSION_CURSOR_PATTERN, description: 'The `next_cursor` of the page before' },
  },
} as const

export interface SessionPageQuery {
  limit?: string
  cursor?: string
}

export const revokedCount = {
  type: 'object',
  required: ['revoked'],
  additionalProperties: false,
  properties: { revoked: { type: 'integer', minimum: 0 } },
} as const

/** Any string is accepted and simply matches no session (404), as an unknown id would. */
export const sessionIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', maxLength: 64 } },
} as const

/** Exactly as the API writes user ids: other spellings of a UUID are refused (400), see user-id.ts. */
export const userIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: USER_ID_PATTERN, description: 'A user id as the API returns it: a UUID in lower case' } },
} as const

export const revokeAllQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { all: { type: 'string', enum: ['true', 'false'] } },
} as const

export interface PasswordChange {
  current_password: string
  new_password: string
}

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

export const sessionTtlBody = {
  type: 'object',
  required: ['ttl_seconds'],
  additionalProperties: false,
  // The upper bound (SESSION_MAX_AGE_SECONDS) is checked in the route, with a message that names it.
  properties: { ttl_seconds: { type: 'integer', minimum: 1 } },
} as const

export const sessionTtlResponse = {
  type: 'object',
  required: ['ttl_seconds', 'source', 'default_ttl_seconds', 'max_ttl_seconds', 'set_by', 'set_at'],
  additionalProperties: false,
  properties: {
    ttl_seconds: { type: 'integer', description: 'The TTL in force' },
    source: { type: 'string', enum: ['override', 'default'], description: 'override: set at run time; default: SESSION_TTL_SECONDS' },
    default_ttl_seconds: { type: 'integer' },
    max_ttl_seconds: { type: 'integer', description: 'SESSION_MAX_AGE_SECONDS' },
    set_by: { type: ['string', 'null'] },
    set_at: { anyOf: [timestamp, { type: 'null' }] },
  },
} as const

/** RFC 7662 §2.1; `extend` is Gatehouse's: slide the session's TTL as a request of its own would. */
export const introspectionBody = {
  type: 'object',
  required: ['token'],
  additionalProperties: false,
  properties: {
    token: { type: 'string', minLength: 1, maxLength: MAX_TOKEN_LENGTH },
    token_type_hint: { type: 'string', maxLength: 64 },
    // Strings too: a form-encoded body has no booleans.
    extend: { enum: [true, false, 'true', 'false'], default: false },
  },
} as const

export interface IntrospectionBody {
  token: string
  token_type_hint?: string
  extend: boolean | 'true' | 'false'
}

/** RFC 7662 §2.2: an inactive token is `{ active: false }` and nothing else. */
export const introspectionResponse = {
  type: 'object',
  required: ['active'],
  additionalProperties: false,
  properties: {
    active: { type: 'boolean' },
    sub: { type: 'string', description: 'The user id' },
    user_id: { type: 'string' },
    role: { type: 'string', enum: ROLES },
    jti: { type: 'string', description: 'The session id' },
    token_type: { type: 'string', enum: ['access_token'] },
    iat: { type: 'integer' },
    exp: { type: 'integer', description: 'Unix seconds: the absolute end of the session' },
    created_at: { type: 'integer', description: 'Unix ms' },
    last_seen_at: { type: 'integer', description: 'Unix ms' },
    expires_at: { type: 'integer', description: 'Unix ms: when the sliding window runs out if unused' },
  },
} as const
