import { PassThrough } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../shared/errors.js'

/**
 * Server-sent events (text/event-stream) for the console's live views: who may hold a stream and
 * for how long, and what the protocol itself needs (retry, keep-alive comments, an `end` event,
 * back-pressure). What goes in the stream is the route's business.
 */
export interface SseLimits {
  /** Open streams one instance serves: each polls Redis once a second. */
  maxStreams: number
  /**
   * Per session and per user (on this instance): one admin token must not be able to take every
   * stream. Two per session covers a console open in two tabs; four per user, a few devices.
   */
  perSession: number
  perUser: number
  /**
   * A stream ends after this long (after an `end` event, max-age). The browser reconnects, and
   * the reconnect is authenticated again: a session or role that has gone is noticed then, whatever
   * the stream did in between.
   */
  maxAgeMs: number
  /** A stream whose waiting bytes have not moved for this long is ended: a client that stopped reading. */
  unreadMs: number
  /** Or as soon as this much waits to be sent. */
  maxUnsentBytes: number
  /** A writer that has more waits (room()) while this much waits: a burst goes out as fast as the client reads it. */
  softUnsentBytes: number
  /** A comment is sent this often, so that proxies do not close a quiet stream. */
  keepAliveMs: number
}

export const SSE_LIMITS: SseLimits = {
  maxStreams: 20,
  perSession: 2,
  perUser: 4,
  maxAgeMs: 15 * 60_000,
  unreadMs: 30_000,
  maxUnsentBytes: 256 * 1024,
  softUnsentBytes: 64 * 1024,
  keepAliveMs: 15_000,
}

/** The one a stream is held for: its caps are counted by these. */
export interface SseHolder {
  sessionId: string
  userId: string
}

export interface SseStream {
  /** True once it ended (whatever ended it): send nothing more, stop polling. */
  readonly ended: boolean
  /** One event (`data` is JSON-encoded); dropped once ended. */
  send(event: string, data: unknown, id?: string): void
  /** Ends it, the bytes written so far still delivered (a client that does not read them has a second). */
  end(): void
  /** Ends it at once (the client has gone, or the stream was never answered). */
  abort(): void
  /** Called once when it ends, however it ends. */
  onEnd(listener: () => void): void
  /**
   * Resolves once little waits to be sent (softUnsentBytes), or the stream has ended: a writer with
   * a burst to send waits for it between sends, so the burst is paced by the client rather than
   * cut off by maxUnsentBytes. A client that stops reading is ended by the unread check.
   */
  room(): Promise<void>
  /** Answers the request with the stream (after `retry:`), once the route has what to open it with. */
  answer(): FastifyReply
}

export interface SseStreams {
  /**
   * Takes a slot for this request, before anything is awaited (a burst cannot all pass the check),
   * or throws `too_many_streams` (503). The slot is freed when the stream ends, whenever that is.
   */
  open(request: FastifyRequest, reply: FastifyReply, holder: SseHolder): SseStream
  /** Ends every stream (the app is closing: a stream never ends by itself, so close would wait). */
  closeAll(): void
}

/** How often a writer waiting for room looks again. */
const ROOM_CHECK_MS = 25
/** EventSource reconnects this long after a stream ends, sending the last id it saw. */
const RETRY_MS = 5_000

export function createSseStreams (limits: SseLimits): SseStreams {
  const open = new Set<{ holder: SseHolder, end: (abort: boolean) => void }>()
  let closing = false
  const count = (same: (holder: SseHolder) => boolean) => {
    let n = 0
    for (const stream of open) if (same(stream.holder)) n++
    return n
  }

  return {
    closeAll () {
      closing = true
      for (const stream of open) stream.end(false)
    },

    open (request, reply, holder) {
      if (closing || open.size >= limits.maxStreams) throw errors.tooManyStreams('instance', limits.maxStreams)
      if (count((h) => h.sessionId === holder.sessionId) >= limits.perSession) throw errors.tooManyStreams('session', limits.perSession)
      if (count((h) => h.userId === holder.userId) >= limits.perUser) throw errors.tooManyStreams('user', limits.perUser)
      const stream = new PassThrough()
      const socket = request.raw.socket
      const listeners: Array<() => void> = []
      // The stream's three timers (max age, keep-alive, unread check): one of each at a time.
      const timers: { maxAge?: NodeJS.Timeout, keepAlive?: NodeJS.Timeout, unread?: NodeJS.Timeout } = {}
      let ended = false
      let written = 0
      const end = (abort: boolean) => {
        if (!ended) {
          ended = true
          clearTimeout(timers.maxAge)
          clearTimeout(timers.keepAlive)
          clearTimeout(timers.unread)
          open.delete(slot)
          stream.end()
          for (const listener of listeners.splice(0)) listener()
        }
        // A client that does not read would keep the connection, and hold up close, for ever.
        if (abort) stream.destroy()
        else setTimeout(() => stream.destroy(), 1000).unref()
      }
      const slot = { holder, end }
      open.add(slot)
      reply.raw.once('close', () => end(true))
      // It may have gone already (while the session was checked), when 'close' was emitted to no one.
      if (socket.destroyed) end(true)

      const waiting = () => stream.writableLength + socket.writableLength
      const write = (text: string) => {
        if (ended) return
        // A pipelined request's answer can be queued behind another when its client goes: no
        // 'close' reaches it, so each write looks.
        if (socket.destroyed) return end(true)
        written += Buffer.byteLength(text)
        stream.write(text)
        if (stream.writableLength > limits.maxUnsentBytes) end(true)
      }

      // Bytes handed on to the kernel so far: what was written less what still waits. Unchanged
      // while bytes wait, for unreadMs, means the client stopped reading (or its network did).
      let delivered = 0
      let stuckSince = Date.now()
      const checkUnread = () => {
        if (ended) return
        const now = Date.now()
        const handedOn = written - waiting()
        if (waiting() === 0 || handedOn !== delivered) {
          delivered = handedOn
          stuckSince = now
        } else if (now - stuckSince >= limits.unreadMs) {
          return end(true)
        }
        timers.unread = setTimeout(checkUnread, Math.min(limits.unreadMs / 3, 5_000)).unref()
      }
      const keepAlive = () => {
        if (ended) return
        write(': still here\n\n')
        if (!ended) timers.keepAlive = setTimeout(keepAlive, limits.keepAliveMs).unref()
      }
      let answered = false

      return {
        get ended () {
          // A pipelined request's answer can be queued behind another when its client goes: no
          // 'close' reaches it, so whoever asks (the route's poll, each turn) finds it gone.
          if (!ended && socket.destroyed) end(true)
          return ended
        },
        send (event, data, id) {
          write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
        },
        end: () => end(false),
        abort: () => end(true),
        onEnd (listener) {
          if (ended) listener()
          else listeners.push(listener)
        },
        room () {
          if (ended || waiting() < limits.softUnsentBytes) return Promise.resolve()
          return new Promise<void>((resolve) => {
            // Polled: the bytes wait in two places (this stream and the socket), and neither's
            // 'drain' says when their sum is low.
            const check = setInterval(() => {
              if (ended || waiting() < limits.softUnsentBytes) done()
            }, ROOM_CHECK_MS)
            const done = () => {
              clearInterval(check)
              resolve()
            }
            listeners.push(done)
          })
        },
        answer () {
          if (!answered && !ended) {
            answered = true
            write(`retry: ${RETRY_MS}\n\n`)
            timers.maxAge = setTimeout(() => {
              // Not an error: the client reconnects (and is authenticated again).
              write(`event: end\ndata: ${JSON.stringify({ reason: 'max-age' })}\n\n`)
              end(false)
            }, limits.maxAgeMs).unref()
            timers.keepAlive = setTimeout(keepAlive, limits.keepAliveMs).unref()
            checkUnread()
          }
          return reply
            .header('content-type', 'text/event-stream; charset=utf-8')
            // nginx (docker/) would otherwise hold the events back to fill its buffer.
            .header('x-accel-buffering', 'no')
            // The route's schema describes its JSON errors; the stream is sent as it is.
            .send(stream as never)
        },
      }
    },
  }
}
