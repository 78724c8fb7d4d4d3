import { Prisma } from '../generated/prisma/client.js'
import type { Database } from '../db/prisma.js'
import { normaliseEmail } from '../shared/email.js'
import { errors, orUnavailable } from '../shared/errors.js'
import { unanchored, USER_ID_PATTERN } from '../shared/user-id.js'
import type { PublicUser } from './repository.js'
import type { Role } from './roles.js'

/** Most users on one page of the admin's list (GET /admin/users), and how many when none is asked. */
export const USER_PAGE_MAX = 100
export const USER_PAGE_DEFAULT = 50

/**
 * A query this long or longer is searched anywhere in the email (`%bob%`, the trigram index);
 * a shorter one only at its start (`bo%`, the text_pattern_ops index): a trigram index has nothing
 * to look up for one or two characters, and would read every row (docs/performance.md).
 */
export const CONTAINS_MIN_LENGTH = 3

/**
 * Where a page of users goes on from: the last user of the page before, as `<created_at>.<id>`
 * (Unix ms, exactly as stored: created_at has millisecond precision; and the user's id, which
 * orders users created in the same millisecond). Opaque to API clients; the pattern is also the
 * API's check, so a malformed cursor is a 400 before anything runs. At most 15 digits: every such
 * instant is one PostgreSQL and Date both hold.
 */
export const USER_CURSOR_PATTERN = `^[0-9]{1,15}\\.${unanchored(USER_ID_PATTERN)}$`
const userCursor = new RegExp(USER_CURSOR_PATTERN)

export interface UserListRequest {
  /** Part of an email, as an admin typed it (compared as stored: trimmed, lower case); empty or absent: every user. */
  query?: string
  /** The `next` of the page before. */
  cursor?: string
  /** 1 to USER_PAGE_MAX; USER_PAGE_DEFAULT when absent. */
  limit?: number
}

export interface UserPage {
  /** Newest first (created_at, then id, both descending). */
  users: PublicUser[]
  /** Pass it back as `cursor` for the next page; null on the last one. */
  next: string | null
}

/** `\`, `%` and `_` are only characters in an admin's query: escaped for LIKE (whose escape is `\`, spelled out in the SQL). */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, '\\$&')

/** The LIKE pattern an admin's query stands for, or null for the whole list. */
function emailPattern (query: string | undefined): string | null {
  // The same normalisation as sign-up and login, so any spelling that finds a user at login finds them here.
  const text = normaliseEmail(query ?? '')
  if (text === '') return null
  const escaped = escapeLike(text)
  // Trigrams are made of letters and digits: a query without three in a row (`...`, `@.@`) gives
  // the index nothing to look up, and would read every row. It is searched at the start only.
  return CONTAINS_RUN.test(text) ? `%${escaped}%` : `${escaped}%`
}
const CONTAINS_RUN = new RegExp(`[a-z0-9]{${CONTAINS_MIN_LENGTH}}`)

/**
 * The most a search's second query (every match, through the search indexes) may run. A query most
 * emails match (`com@`: every `.com` address holds the trigram `com`) would read a large part of a
 * large table, on the database every login needs: it is stopped, and the admin asked to type more.
 */
const SEARCH_TIMEOUT_MS = 500
/** The latest instant a cursor may name: year 9999, the last PostgreSQL's timestamp and an ISO date both write plainly. */
const LATEST_CURSOR_MS = 253402300799999

/** A cursor the API did not write is a 400 (the route's schema checks the same pattern first). */
function parseCursor (cursor: string): { createdAt: string; id: string } {
  const malformed = () => errors.badRequest('The cursor is malformed: pass back a next_cursor as it came')
  if (!userCursor.test(cursor)) throw malformed()
  const dot = cursor.indexOf('.')
  const ms = Number(cursor.slice(0, dot))
  if (ms > LATEST_CURSOR_MS) throw malformed()
  const at = new Date(ms)
  return { createdAt: at.toISOString(), id: cursor.slice(dot + 1) }
}

const pageSize = (limit = USER_PAGE_DEFAULT) => Math.max(1, Math.min(Math.trunc(limit), USER_PAGE_MAX))

/**
 * How many of the newest users (after the cursor) a search reads in list order before it turns to
 * the search indexes. A query that matches 1 user in 1,000 or more fills a page within them; the
 * search indexes alone would read every match (and, for a query whose trigrams say little, such as
 * `anna.a`, far more rows than match) only to keep the newest 51 (docs/performance.md, "User search
 * at 1,000,000 users").
 */
const RECENT_WINDOW = 50_000

const COLUMNS = Prisma.sql`id::text AS id, email, role::text AS role, created_at AS "createdAt", email_verified_at AS "emailVerifiedAt"`
const NEWEST_FIRST = Prisma.sql`ORDER BY created_at DESC, id DESC`

/**
 * The queries behind a page, in the order they run (also what bench/user-search.ts explains); each
 * asks one more row than the page, to know whether another follows. Keyset paging on
 * (created_at, id), the order the index users_created_at_id_idx holds: page 1,000 costs what page 1
 * does. created_at is `timestamp(3)` holding UTC: the cursor's ISO instant is cast to it (its `Z`
 * is ignored by that cast, as wanted).
 *
 * The list is one query. A search is two, the second only when the first did not fill the page:
 * `recent`, the query's matches among the RECENT_WINDOW newest users (read in list order: bounded
 * work, and enough for any query that matches many users); then `all`, every match after the
 * cursor through the search indexes (MATERIALIZED, so the planner cannot trade the index for a walk
 * down the list that passes over almost every user), sorted.
 */
export function userPageQueries ({ query, cursor, limit }: UserListRequest): { recent?: Prisma.Sql; all: Prisma.Sql } {
  const pattern = emailPattern(query)
  const after = cursor === undefined ? null : parseCursor(cursor)
  const rows = pageSize(limit) + 1
  const afterCursor = after === null ? Prisma.sql`TRUE` : Prisma.sql`(created_at, id) < (${after.createdAt}::timestamp(3), ${after.id}::uuid)`
  if (pattern === null) return { all: Prisma.sql`SELECT ${COLUMNS} FROM users WHERE ${afterCursor} ${NEWEST_FIRST} LIMIT ${rows}` }
  const matches = Prisma.sql`email LIKE ${pattern} ESCAPE '\\'`
  return {
    recent: Prisma.sql`SELECT ${COLUMNS} FROM (SELECT * FROM users WHERE ${afterCursor} ${NEWEST_FIRST} LIMIT ${RECENT_WINDOW}) AS recent
WHERE ${matches} ${NEWEST_FIRST} LIMIT ${rows}`,
    all: Prisma.sql`WITH matched AS MATERIALIZED (SELECT * FROM users WHERE ${matches} AND ${afterCursor})
SELECT ${COLUMNS} FROM matched ${NEWEST_FIRST} LIMIT ${rows}`,
  }
}

/** PostgreSQL's query_canceled (57014): here, the search's statement_timeout. */
export function statementTimedOut (err: unknown): boolean {
  const text = `${(err as { code?: unknown }).code ?? ''} ${JSON.stringify((err as { meta?: unknown }).meta ?? '')} ${(err as Error).message ?? ''}`
  return text.includes('57014') || /statement timeout/i.test(text)
}

interface ListedRow {
  id: string
  email: string
  role: Role
  createdAt: Date
  emailVerifiedAt: Date | null
}

/** A page of users for the admin: newest first, all of them or those whose email holds the query. */
export async function listUsers (db: Database, request: UserListRequest): Promise<UserPage> {
  const { recent, all } = userPageQueries(request)
  const size = pageSize(request.limit)
  const rows = await orUnavailable('postgres', async () => {
    if (!recent) return db.$queryRaw<ListedRow[]>(all)
    const first = await db.$queryRaw<ListedRow[]>(recent)
    if (first.length > size) return first
    try {
      const [, matches] = await db.$transaction([
        db.$queryRaw`SELECT set_config('statement_timeout', ${String(SEARCH_TIMEOUT_MS)}, true)`,
        db.$queryRaw<ListedRow[]>(all),
      ])
      return matches
    } catch (err) {
      if (statementTimedOut(err)) throw errors.badRequest(`Too many emails match "${request.query?.trim()}" to list them quickly: type more of it`)
      throw err
    }
  })
  const page = rows.slice(0, size)
  const last = page.at(-1)
  return {
    users: page.map((row) => ({
      id: row.id,
      email: row.email,
      role: row.role,
      createdAt: row.createdAt.toISOString(),
      emailVerifiedAt: row.emailVerifiedAt?.toISOString() ?? null,
    })),
    next: rows.length > size && last ? `${last.createdAt.getTime()}.${last.id}` : null,
  }
}
