import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import type { RecentCursor } from '../telemetry/recent-sessions.js'
import { RECENT_PAGE_DEFAULT, recentSessions, recentSessionsQuery } from '../schemas/sessions.js'
import { orUnavailable } from '../shared/errors.js'

/**
 * Admin-only (routes/index.ts): "who is signed in now" for the console. The number of live
 * sessions (the gauge's cached count, with its age) and the sessions most recently active across
 * users, from the list the instances keep in memory and write every few seconds
 * (telemetry/recent-sessions.ts): the request path gains no Redis work for it. The session store
 * decides which entries are still live (store.describe), so an ended session is never shown.
 */
export const sessionsNowRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { recentSessions: recent, sessions, userEmails, metrics } = app

  app.get(
    '/admin/sessions',
    { schema: { operationId: 'listRecentSessions', summary: 'How many sessions are live, and the most recently active', querystring: recentSessionsQuery, response: { 200: recentSessions } } },
    async (request) => {
      const limit = request.query.limit === undefined ? RECENT_PAGE_DEFAULT : Number(request.query.limit)
      const cursor = request.query.cursor === undefined ? undefined : parseCursor(request.query.cursor)
      const [count, page] = await Promise.all([
        // A failed count is a null headline, not a failed page.
        metrics.liveSessionCount().catch(() => null),
        orUnavailable('redis', () => recent.page(limit, cursor)),
      ])
      const live = await sessions.describe(page.sessions)
      const ended = page.sessions.filter((entry) => !live.has(`${entry.userId}:${entry.id}`))
      // Found ended: they leave the list now rather than at their next flush (a failure here costs nothing).
      await recent.drop(ended).catch(() => {})
      const shown = page.sessions.filter((entry) => live.has(`${entry.userId}:${entry.id}`))
      const emails = await userEmails(shown.map((entry) => entry.userId))
      const last = page.sessions.at(-1)
      const iso = (ms: number) => new Date(ms).toISOString()
      return {
        live_sessions: count === null ? null : { count: count.value, counted_at: iso(count.countedAt) },
        sessions: shown.map((entry) => {
          const session = live.get(`${entry.userId}:${entry.id}`)!
          return {
            id: entry.id,
            user_id: entry.userId,
            email: emails.get(entry.userId) ?? null,
            client: session.client,
            user_agent: session.userAgent,
            ip: session.ip,
            created_at: iso(session.createdAt),
            last_seen_at: iso(session.lastSeenAt),
            active_at: iso(Math.max(entry.at, session.lastSeenAt)),
            expires_at: iso(session.expiresAt),
            max_expires_at: iso(session.maxExpiresAt),
          }
        }),
        next_cursor: page.more && last ? `${last.at}.${last.userId}.${last.id}` : null,
      }
    }
  )
}

/** The schema has checked its shape (RECENT_CURSOR_PATTERN). */
function parseCursor (cursor: string): RecentCursor {
  const [at, userId, id] = cursor.split('.') as [string, string, string]
  return { at: Number(at), userId, id }
}
