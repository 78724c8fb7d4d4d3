import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { createSseStreams, SSE_LIMITS, type SseLimits } from '../http/sse.js'
import { requireAuth } from '../plugins/authenticate.js'
import { activityHour, eventHeaders, eventHistory, eventHistoryQuery, eventQuery, eventStream } from '../schemas/activity.js'
import { failures } from '../schemas/errors.js'
import { createConsoleFeed, HISTORY_LIMIT_DEFAULT } from '../sessions/console-feed.js'
import { createEventFeed } from '../sessions/event-feed.js'
import { openFollow } from '../sessions/event-follow.js'
import { orUnavailable } from '../shared/errors.js'

export { EVENT_BACKLOG } from '../sessions/event-follow.js'

export interface ActivityRoutesOptions {
  /** The event streams' limits (http/sse.ts); tests shorten the timings. */
  eventStreams?: Partial<SseLimits>
}

/**
 * Admin-only (routes/index.ts): what the ops console draws. Charts of the last hour, and session
 * events, live (server-sent events) and page by page, read from the `<prefix>events` stream.
 */
export const activityRoutes: FastifyPluginAsyncJsonSchemaToTs<{ Options: ActivityRoutesOptions }> = async (app, options) => {
  const { activity, sessions, redis, config, userEmails } = app
  const feed = createConsoleFeed(createEventFeed(redis, config.redisKeyPrefix), userEmails)
  const streams = createSseStreams({ ...SSE_LIMITS, ...options.eventStreams })
  app.addHook('preClose', async () => streams.closeAll())

  app.get(
    '/admin/activity',
    { schema: { operationId: 'getActivity', summary: 'The last hour, a minute at a time', response: { 200: activityHour } } },
    () => orUnavailable('redis', () => activity.lastHour())
  )

  app.get(
    '/admin/events/history',
    { schema: { operationId: 'listEventHistory', summary: 'Earlier session events, newest first, a page at a time', querystring: eventHistoryQuery, response: { 200: eventHistory } } },
    async (request) => {
      const { before, limit, type, reason } = request.query
      const page = await orUnavailable('redis', () => feed.history({ before, limit: limit === undefined ? HISTORY_LIMIT_DEFAULT : Number(limit), filter: { type, reason } }))
      return { events: page.events, next_before: page.next_before, oldest_kept: page.oldest_kept }
    }
  )

  app.get(
    '/admin/events',
    {
      schema: {
        headers: eventHeaders,
        querystring: eventQuery,
        description: 'Server-sent events (text/event-stream): each `session` event is a row, as listEventHistory answers them, oldest first. Opens with the latest rows, or those after Last-Event-ID. ' +
          'A run of `revoked` or `expired` entries of one user with one reason is one row with its `count`; a run that goes on past one read comes as more rows: a row whose first_id follows the previous row\'s id with the same type, user_id and reason continues it (add its count, take its id and at). ' +
          `At most ${SSE_LIMITS.perSession} streams per session and ${SSE_LIMITS.perUser} per user on an instance (${SSE_LIMITS.maxStreams} in all); a stream ends after ${SSE_LIMITS.maxAgeMs / 60_000} minutes with \`event: end\` (reconnect), or when its client stops reading.`,
        operationId: 'streamEvents',
        summary: 'Session events as they happen (server-sent events)',
        response: { 200: eventStream, ...failures('too_many_streams') },
      },
    },
    async (request, reply) => {
      const auth = requireAuth(request)
      const stream = streams.open(request, reply, { sessionId: auth.sessionId, userId: auth.userId })
      let start: Awaited<ReturnType<typeof openFollow>>
      try {
        start = await orUnavailable('redis', () => openFollow(feed, {
          filter: request.query,
          resumeAfter: request.headers['last-event-id'],
          sessionId: auth.sessionId,
          stillLive: async () => (await sessions.peek(auth.sessionId, auth.userId, auth.reach)) !== null,
          onError: (err) => request.log.warn({ err: err.message }, 'event stream ended: Redis failed'),
        }))
      } catch (err) {
        stream.abort()
        throw err
      }
      const answered = stream.answer()
      start(stream)
      return answered
    }
  )
}
