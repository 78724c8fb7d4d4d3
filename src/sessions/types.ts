// What the session store takes and gives: its inputs, the sessions it shows, the bounds of its
// pages. The store (store.ts) and the scripts' calls (scripts/index.ts) both speak these.

/** Most sessions in one page of a listing (GET /sessions, the admin's, the CLI's). */
export const SESSION_PAGE_MAX = 100

/** What a user can recognise a session by; recorded at login. Empty strings when unknown. */
export interface Device {
  client: string
  userAgent: string
  ip: string
}

export interface NewSessionInput {
  userId: string
  /** The audience the token is bound to (JWT-Aud), null for none: the client whose policy the session falls under. */
  audience?: string | null
  role: string
  /** The user's email and sign-up time (Unix ms): stored so GET /me needs no database. */
  email: string
  userCreatedAt: number
  /** Unix ms when the user confirmed the email; 0 or absent if not (yet). Stored so GET /me needs no database once it is set. */
  emailVerifiedAt?: number
  device: Device
  /** The user's generation, read (with `generation()`) before the password was checked. */
  generation: string
}

export interface NewSession {
  id: string
  /** Unix ms, Redis clock. */
  createdAt: number
  /** Unix ms: the absolute end of the session, equal to the token's exp * 1000. */
  maxExpiresAt: number
  /** Unix ms: when the session ends if it is not used again (the sliding window's end, at most maxExpiresAt). */
  expiresAt: number
  /** The sliding window in force at login, seconds (ops may change it while the session lives). */
  idleTimeoutSeconds: number
  /** Sessions of the same user ended to stay within SESSION_MAX_PER_USER. */
  evicted: string[]
}

export interface SessionInfo extends Device {
  id: string
  /** Unix ms, all of them. */
  createdAt: number
  lastSeenAt: number
  /** When the sliding window runs out if the session is not used again. */
  expiresAt: number
  /** The absolute end under its policy now (a client's maximum age, lowered since the login, brings it forward). */
  maxExpiresAt: number
  /** The client (audience) whose policy it falls under; '' for the global one. */
  audience: string
}

/** The user a session belongs to, as its hash records it. */
export interface SessionUser {
  role: string
  email: string
  /** Unix ms. */
  userCreatedAt: number
}

/**
 * A live session's user. A session written by an older release lacks some of it ('' and 0): a
 * layout-1 one has no role, and older layout-3 ones lack the email and sign-up time
 * (see `upgrade`).
 */
export interface LiveSession extends SessionUser {
  /** Unix ms when the user confirmed the email: as recorded at login, or a confirmation made since (markEmailVerified); 0 if neither. */
  emailVerifiedAt: number
}

/** A live session, as introspection shows it (all times Unix ms). */
export interface SessionStatus extends SessionUser {
  createdAt: number
  lastSeenAt: number
  expiresAt: number
  maxExpiresAt: number
}

/**
 * What the token says that decides which session it reaches and under which policy: only sessions
 * created before `createdBefore` (Unix ms), when given (a former HS256 secret's token); only one
 * bound to its audience (null: unbound). Its created_at and exp (Unix ms) tell why a session is gone.
 */
export interface Reach {
  createdBefore?: number
  audience?: string | null
  createdAt?: number
  expiresAt?: number
}

export interface SessionPage {
  sessions: SessionInfo[]
  /** Pass it back (as `after`) for the next page; null on the last one. */
  next: string | null
}

/**
 * Where a page of sessions goes on from: the last entry of the page before, as `<score>.<id>`
 * (its index score, and its id). Opaque to API clients; the pattern is also the API's check.
 */
export const SESSION_CURSOR_PATTERN = '^[0-9]{1,16}\\.[A-Za-z0-9_-]{22}$'

/**
 * Of each user on an admin's page of users, how many of the user's index entries with the latest
 * expiry are read in full (list-sessions-n.lua): the live count is exact for a user with at most this
 * many unexpired entries, and so is the latest use for a user whose sessions share one idle window.
 */
export const SUMMARY_READ = 10

/** A user's sessions at a glance, for the admin's list of users (`summaries`). */
export interface SessionSummary {
  /**
   * The user's live sessions. Exact up to SUMMARY_READ unexpired index entries; above that, the
   * number of unexpired entries less those of the SUMMARY_READ read that were not live (a session
   * that a revoke-all's sweep or ops' ending of its client left in the index is counted until its
   * key goes).
   */
  live: number
  /** Unix ms: the latest use among the live sessions read (those with the latest expiry); null when none. */
  lastSeenAt: number | null
}
