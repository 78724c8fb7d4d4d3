import { SESSION_ID_PATTERN } from '@gatehouse/session-reader/token'
import type { FromSchema } from 'json-schema-to-ts'
import { MAX_DEVICE_LABEL_LENGTH } from '../http/device-label.js'
import { SESSION_CURSOR_PATTERN, SESSION_PAGE_MAX } from '../sessions/types.js'
import { NO_CONTROL_CHARACTERS } from '../shared/email.js'
import { unanchored, USER_ID_PATTERN } from '../shared/user-id.js'
import { pageLimit, timestamp, user } from './common.js'

/**
 * A label a user recognises a session by ("ios", "MyApp 1.2.3+45 (Android 14, Pixel 8)"...). Any
 * text is taken and cut, not refused, by src/http/device-label.ts: no maxLength or pattern here,
 * they would refuse.
 */
export const clientLabel = {
  type: 'string',
  description: `The label the user sees for this session in the device list (GET /sessions), e.g. \`MyApp 1.2.3+45 (Android 14, Pixel 8)\`. Any text: bidi controls (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069) are removed and surrounding whitespace trimmed (empty: no label), then it is cut, not refused, to its first ${MAX_DEVICE_LABEL_LENGTH} Unicode code points. A control character (U+0000 to U+001F, U+007F to U+009F) or a line break (U+2028, U+2029) in it is a 400. In the X-Client header, non-ASCII bytes that are valid UTF-8 are read as UTF-8, others as latin1.`,
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

/** The optional X-Client header: the same label as the body's `client` (which wins when both are sent). */
export const loginHeaders = {
  type: 'object',
  properties: { 'x-client': clientLabel },
} as const

/** When a new session ends, for the app to plan by (docs/mobile.md): the names the session list uses. */
export const sessionClock = {
  expires_at: { ...timestamp, description: 'When the session ends if it is not used again: every authenticated request moves this to now + idle_timeout_seconds (never past max_expires_at)' },
  max_expires_at: { ...timestamp, description: 'The absolute end: no use extends the session past it (the token\'s exp)' },
  idle_timeout_seconds: { type: 'integer', minimum: 1, description: 'The sliding window in force at login; ops may change it while the session lives' },
} as const

export const loginResponse = {
  type: 'object',
  required: ['user', 'expires_at', 'max_expires_at', 'idle_timeout_seconds'],
  additionalProperties: false,
  properties: {
    user,
    token: { type: 'string', description: 'With the header transport: send it as Authorization: Token token=<token>' },
    csrf_token: { type: 'string', description: 'With the cookie transport: send it as X-CSRF-Token on POST, PUT and DELETE' },
    ...sessionClock,
  },
} as const

/** One session as its owner (or an admin) sees it. The id is not a credential: see docs/api.md. */
export const session = {
  type: 'object',
  required: ['id', 'current', 'client', 'user_agent', 'ip', 'created_at', 'last_seen_at', 'expires_at', 'max_expires_at'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    current: { type: 'boolean', description: 'The session of the token that asked' },
    client: { type: 'string' },
    user_agent: { type: 'string' },
    ip: { type: 'string' },
    created_at: { ...timestamp, description: 'When the session was created (the login): the order of the list' },
    last_seen_at: { ...timestamp, description: 'Its last use, to within a second; it does not move the session in the list' },
    expires_at: timestamp,
    max_expires_at: timestamp,
  },
} as const

const nextCursor = {
  type: ['string', 'null'],
  description: 'null on the last page, i.e. when no live session follows this one (a page of exactly `limit` sessions that ends the list says null too); otherwise pass it back as `cursor` for the next page. A page may hold fewer than `limit` sessions (sessions that ended meanwhile are left out) and still not be the last: follow the cursor until it is null',
} as const

/** The device list's order (docs/api.md, GET /sessions): by creation, so paging is stable. */
const sessionsByCreation = 'Newest first by `created_at` (ties by id): a session used, or a login made, while the list is paged moves nothing, so following `next_cursor` lists every session that lived throughout exactly once'

export const sessionList = {
  type: 'object',
  required: ['sessions', 'next_cursor'],
  additionalProperties: false,
  properties: {
    sessions: { type: 'array', items: session, maxItems: SESSION_PAGE_MAX, description: `The caller's own session (\`current: true\`) first on the first page, then the others. ${sessionsByCreation}` },
    next_cursor: nextCursor,
  },
} as const

export const adminSessionList = {
  type: 'object',
  required: ['user', 'sessions', 'next_cursor'],
  additionalProperties: false,
  properties: {
    user,
    sessions: { type: 'array', items: session, maxItems: SESSION_PAGE_MAX, description: sessionsByCreation },
    next_cursor: nextCursor,
  },
} as const

/** `?limit=&cursor=` of a session listing. Query values are strings (no type coercion here). */
export const sessionPageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: pageLimit('Sessions', SESSION_PAGE_MAX, SESSION_PAGE_MAX),
    cursor: { type: 'string', pattern: SESSION_CURSOR_PATTERN, description: 'The `next_cursor` of the page before' },
  },
} as const

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

export const revokeAllQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { all: { type: 'string', enum: ['true', 'false'] } },
} as const

export type SessionPageQuery = FromSchema<typeof sessionPageQuery>

/** `<ms>.<user_id>.<session id>`: the last entry of the page before (GET /admin/sessions). */
export const RECENT_CURSOR_PATTERN = `^\\d{1,15}\\.${unanchored(USER_ID_PATTERN)}\\.${unanchored(SESSION_ID_PATTERN.source)}$`
const RECENT_PAGE_MAX = 100
export const RECENT_PAGE_DEFAULT = 50

export const recentSessionsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: pageLimit('Sessions', RECENT_PAGE_MAX, RECENT_PAGE_DEFAULT),
    cursor: { type: 'string', pattern: RECENT_CURSOR_PATTERN, description: 'The `next_cursor` of the page before' },
  },
} as const

/** GET /admin/sessions: how many are live, and the most recently active (docs/console.md says how both are kept). */
export const recentSessions = {
  type: 'object',
  required: ['live_sessions', 'sessions', 'next_cursor'],
  additionalProperties: false,
  properties: {
    live_sessions: {
      type: ['object', 'null'],
      required: ['count', 'counted_at'],
      additionalProperties: false,
      description: 'Session hashes in Redis, counted with SCAN by this instance at most every 15 s (the gatehouse_active_sessions gauge\'s count); null when the count failed',
      properties: { count: { type: 'integer', minimum: 0 }, counted_at: { ...timestamp, description: 'When it was counted: the number is this old' } },
    },
    sessions: {
      type: 'array',
      maxItems: RECENT_PAGE_MAX,
      description: 'Live sessions, most recently active first, across users: the newest 1,000 any instance served (noted in memory, written every 5 s). A page may hold fewer than `limit` (sessions that ended are left out) and still not be the last',
      items: {
        type: 'object',
        required: ['id', 'user_id', 'email', 'client', 'user_agent', 'ip', 'created_at', 'last_seen_at', 'active_at', 'expires_at', 'max_expires_at'],
        additionalProperties: false,
        properties: {
          id: { type: 'string' },
          user_id: { type: 'string' },
          email: { type: ['string', 'null'], description: 'null when the user no longer exists' },
          client: { type: 'string' },
          user_agent: { type: 'string' },
          ip: { type: 'string' },
          created_at: timestamp,
          last_seen_at: { ...timestamp, description: 'Its last use as its hash records it (written at most once a second)' },
          active_at: { ...timestamp, description: 'When an instance last served it: the order of the list' },
          expires_at: timestamp,
          max_expires_at: timestamp,
        },
      },
    },
    next_cursor: { type: ['string', 'null'], description: 'null on the last page; otherwise pass it back as `cursor`. Opaque: it names a place in the list (which may be a session that has ended since), not a session to act on' },
  },
} as const
