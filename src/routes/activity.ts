import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import { PassThrough } from 'node:stream'
import { requireAuth } from '../plugins/authenticate.js'
import { activityHour, eventHeaders, eventStream } from '../schemas/activity.js'
import { failures } from '../schemas/errors.js'
import { createEventFeed, type FeedEvent } from '../sessions/event-feed.js'
import { errors, orUnavailable } from '../shared/errors.js'

/** Events sent when a stream opens: the latest ones, or those after Last-Event-ID (a reconnect). */
export const EVENT_BACKLOG = 50
/** Open event streams one instance serves; more get 503 (each polls Redis once a second). */
export const MAX_EVENT_STREAMS = 20
const POLL_INTERVAL_MS = 1_000
/** Events read per poll; a full batch is followed at once by the next. */
const POLL_BATCH = 100
/** How often a stream checks that its session is still live, and sends a comment to keep proxies from closing it. */
const RECHECK_INTERVAL_MS = 15_000
/** A client that does not read: its stream is ended once this much waits to be sent. */
const MAX_UNSENT_BYTES = 256 * 1024

/**
 * Admin-only (routes/index.ts): what the ops console draws. Charts of the last hour, and session
 * events as they happen, as server-sent events read from the `<prefix>events` stream.
 */
export const activityRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { activity, sessions, redis, config } = app
  const feed = createEventFeed(redis, config.redisKeyPrefix)
  /** Each open stream's `end`. Its size is what MAX_EVENT_STREAMS counts. */
  const open = new Set<(abort?: boolean) => void>()
  let closing = false
  // A stream never ends by itself: close would wait for it forever.
  app.addHook('preClose', async () => {
    closing = true
    for (const end of open) end()
  })

  /** The events a new stream opens with: the latest, or those after the client's last one, never more than EVENT_BACKLOG. */
  async function backlog (resumeAfter: string | undefined): Promise<{ events: FeedEvent[], restart: boolean }> {
    if (resumeAfter !== undefined) {
      const after = await feed.after(resumeAfter, EVENT_BACKLOG + 1)
      if (after.length <= EVENT_BACKLOG) return { events: after, restart: false }
    }
    // Too far behind to catch up (a laptop back from sleep): start over from the latest.
    return { events: await feed.latest(EVENT_BACKLOG), restart: resumeAfter !== undefined }
  }

  app.get(
    '/admin/activity',
    { schema: { operationId: 'getActivity', summary: 'The last hour, a minute at a time', response: { 200: activityHour } } },
    () => orUnavailable('redis', () => activity.lastHour())
  )

  app.get(
    '/admin/events',
    {
      schema: {
        headers: eventHeaders,
        description: 'Server-sent events (text/event-stream): each `session` event is one entry of the events stream ({id, at, type, session_id, user_id, reason}); `signed-out` when the caller\'s own session has ended. Opens with the latest events, or those after Last-Event-ID.',
        operationId: 'streamEvents',
        summary: 'Session events as they happen (server-sent events)',
        response: { 200: eventStream, ...failures('too_many_streams') },
      },
    },
    async (request, reply) => {
      const auth = requireAuth(request)
      if (closing || open.size >= MAX_EVENT_STREAMS) throw errors.tooManyStreams(MAX_EVENT_STREAMS)
      const resumeAfter = request.headers['last-event-id']
      const stream = new PassThrough()
      let timer: NodeJS.Timeout | undefined
      let ended = false
      const end = (abort = false) => {
        if (!ended) {
          ended = true
          clearTimeout(timer)
          open.delete(end)
          stream.end()
        }
        // A client that does not read would keep the connection, and hold up close, for ever.
        if (abort) stream.destroy()
        else setTimeout(() => stream.destroy(), 1000).unref()
      }
      // The slot is taken before the first await, so a burst of requests cannot all pass the check
      // above together; and from here on, a client that goes away frees it, whenever that happens.
      open.add(end)
      reply.raw.once('close', () => end(true))
      // It may have gone already (while the session was checked), when 'close' was emitted to no one.
      const gone = () => request.raw.socket.destroyed
      if (gone()) end(true)

      let first: Awaited<ReturnType<typeof backlog>>
      try {
        // Read before answering: Redis down is a plain 503, not a stream that opens and dies.
        first = await orUnavailable('redis', () => backlog(resumeAfter))
      } catch (err) {
        end(true)
        throw err
      }
      if (gone()) end(true)
      let cursor = first.events.at(-1)?.id ?? resumeAfter ?? '0-0'
      let nextCheck = Date.now() + RECHECK_INTERVAL_MS

      const send = (text: string) => {
        if (ended) return
        stream.write(text)
        if (stream.writableLength > MAX_UNSENT_BYTES) end(true)
      }
      const signedOut = () => {
        send('event: signed-out\ndata: {}\n\n')
        end()
      }
      const sendEvents = (events: FeedEvent[]) => {
        for (const event of events) {
          send(`id: ${event.id}\nevent: session\ndata: ${JSON.stringify(event)}\n\n`)
          // The caller's own session ending goes by in the feed: no need to wait for the next check.
          if (event.session_id === auth.sessionId && event.type !== 'created') return signedOut()
        }
      }
      const poll = async () => {
        // A pipelined request's response can be queued behind another when its client goes:
        // no 'close' reaches it, so each poll looks.
        if (gone()) return end(true)
        try {
          const events = await feed.after(cursor, POLL_BATCH)
          if (ended) return
          if (events.length > 0) {
            cursor = events.at(-1)!.id
            sendEvents(events)
          }
          if (!ended && Date.now() >= nextCheck) {
            nextCheck = Date.now() + RECHECK_INTERVAL_MS
            // Not a touch: an open console tab must not keep its session alive by itself.
            if (!(await sessions.peek(auth.sessionId, auth.userId, auth.reach))) return signedOut()
            send(': still here\n\n')
          }
          if (!ended) timer = setTimeout(() => { void poll() }, events.length === POLL_BATCH ? 0 : POLL_INTERVAL_MS)
        } catch (err) {
          // Redis failed: end the stream; the browser reconnects and resumes from the last id.
          request.log.warn({ err: (err as Error).message }, 'event stream ended: Redis failed')
          end()
        }
      }

      // EventSource reconnects 5 s after a stream ends, sending the last id it saw.
      send('retry: 5000\n\n')
      // Its list no longer joins up with these: the client starts it afresh.
      if (first.restart) send('event: restart\ndata: {}\n\n')
      sendEvents(first.events)
      if (!ended) timer = setTimeout(() => { void poll() }, POLL_INTERVAL_MS)
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        // nginx (docker/) would otherwise hold the events back to fill its buffer.
        .header('x-accel-buffering', 'no')
        // The route's schema describes its JSON errors; the stream is sent as it is.
        .send(stream as never)
    }
  )
}
