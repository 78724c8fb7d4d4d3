import { hasControlCharacters } from '../shared/email.js'
import type { Log } from '../shared/log.js'
import type { MailKind, MailMessage } from './templates.js'
import { createTransport, type MailTransportConfig } from './transports.js'

export type { MailTransportConfig } from './transports.js'

export type MailOutcome = 'sent' | 'retried' | 'dropped'
/** Why a mail was dropped: a permanent refusal, retries used up, no room, or the mailer closed. */
export type DropReason = 'refused' | 'attempts' | 'queue_full' | 'closed'

export interface MailerOptions {
  transport: MailTransportConfig
  /** MAIL_FROM, e.g. 'Gatehouse <no-reply@example.com>'. */
  from: string
  log: Log
  /**
   * Told of each outcome: 'sent'; 'retried' (an attempt failed and another is scheduled);
   * 'dropped' with a reason ('refused' = permanent 5xx or an unsendable message, 'attempts' =
   * retries used up, 'queue_full', 'closed'). Called synchronously; what it throws is logged.
   */
  onOutcome?: (kind: MailKind, outcome: MailOutcome, reason?: DropReason) => void
  /** Default 5. */
  maxAttempts?: number
  /** Default 1000: the delay doubles each retry with full jitter, capped by maxDelayMs. */
  baseDelayMs?: number
  /** Default 60_000. */
  maxDelayMs?: number
  /** Default 1000 messages waiting, in flight or waiting to be retried; beyond it send() drops at once. */
  maxQueue?: number
  /** Default 2 messages in flight per instance. */
  concurrency?: number
  /** Default 10_000: nodemailer's connection, greeting and socket (idle) timeouts. */
  timeoutMs?: number
}

export interface Mailer {
  readonly mode: 'smtp' | 'files'
  /**
   * Queues a message and returns at once (never waits on SMTP, never throws). false if it was
   * dropped at once: queue full, mailer closed, or a `to` no mail may carry (CR, LF, controls).
   */
  send (message: MailMessage): boolean
  /** Resolves when nothing is queued or in flight (tests, shutdown), or after timeoutMs (default 10 s). */
  idle (timeoutMs?: number): Promise<void>
  /**
   * Stops retrying: queued mails and pending retries are dropped (reason 'closed'), in-flight
   * sends get up to CLOSE_GRACE_MS and are then aborted, the transport is closed. Idempotent.
   */
  close (): Promise<void>
}

/** How long close() lets a send already talking to the server finish. */
const CLOSE_GRACE_MS = 2_000
const DEFAULT_IDLE_TIMEOUT_MS = 10_000

/** A mail on its way: how many attempts it has had so far. */
interface Job {
  message: MailMessage
  attempts: number
}

/** What a failed attempt tells: whether trying again could help, and what to log about it. */
interface Failure {
  permanent: boolean
  responseCode?: number
  /** nodemailer's or Node's error code (ECONNREFUSED rather than nodemailer's wrapping ESOCKET). */
  error?: string
}

// Failures without an SMTP reply that no retry can cure: the message or the configuration is at fault.
const PERMANENT_ERROR_CODES = new Set(['EENVELOPE', 'ECONFIG', 'ENOAUTH', 'EMAXRECIPIENTS', 'EFILEACCESS', 'EURLACCESS', 'EOTP'])

/**
 * Outgoing mail, in the background: send() queues and returns, a few mails go out at a time,
 * transient failures (4xx, connection refused or reset, timeouts) are tried again with exponential
 * backoff and full jitter, permanent ones (5xx) are dropped at once. Everything is bounded: the
 * queue, the mails in flight, the attempts, and each attempt by the transport's timeouts. Retry
 * timers are unref()ed: a mail waiting to be retried never keeps the process alive.
 * No log line carries a mail's body or token, and recipients are masked (a***@example.com).
 */
export function createMailer (options: MailerOptions): Mailer {
  const { from, log, onOutcome } = options
  const maxAttempts = positiveInteger('maxAttempts', options.maxAttempts ?? 5)
  const baseDelayMs = positiveInteger('baseDelayMs', options.baseDelayMs ?? 1_000)
  const maxDelayMs = positiveInteger('maxDelayMs', options.maxDelayMs ?? 60_000)
  const maxQueue = positiveInteger('maxQueue', options.maxQueue ?? 1_000)
  const concurrency = positiveInteger('concurrency', options.concurrency ?? 2)
  const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs ?? 10_000)
  const transport = createTransport(options.transport, timeoutMs)

  // Together never more than maxQueue jobs (send() checks), so each is bounded.
  const waiting: Job[] = []
  const inFlight = new Map<Job, { abort: AbortController; done: Promise<void> }>()
  const retrying = new Map<Job, NodeJS.Timeout>()
  const idleWaiters = new Set<() => void>()
  let closed = false
  let closing: Promise<void> | undefined

  const pending = () => waiting.length + inFlight.size + retrying.size

  function tell (kind: MailKind, outcome: MailOutcome, reason?: DropReason): void {
    if (onOutcome === undefined) return
    try {
      onOutcome(kind, outcome, reason)
    } catch (err) {
      log.warn({ kind, outcome, reason, err }, 'mail outcome listener threw')
    }
  }

  function drop (job: Job, reason: DropReason, message: string, failure?: Failure): void {
    log.warn({ ...describe(job), reason, responseCode: failure?.responseCode, error: failure?.error }, message)
    tell(job.message.kind, 'dropped', reason)
  }

  function whenIdle (): void {
    if (pending() > 0) return
    for (const resolve of idleWaiters) resolve()
  }

  function startWaiting (): void {
    while (!closed && inFlight.size < concurrency && waiting.length > 0) {
      const job = waiting.shift()!
      const abort = new AbortController()
      inFlight.set(job, { abort, done: attempt(job, abort.signal) })
    }
  }

  async function attempt (job: Job, signal: AbortSignal): Promise<void> {
    job.attempts++
    try {
      const { file } = await transport.deliver(job.message, from, signal)
      // files mode is for development: the developer reads the token from the file it names.
      if (file !== undefined) log.info({ ...describe(job), file }, 'mail written to file')
      else log.info(describe(job), 'mail sent')
      tell(job.message.kind, 'sent')
    } catch (err) {
      settleFailure(job, classify(err))
    } finally {
      inFlight.delete(job)
      startWaiting()
      whenIdle()
    }
  }

  function settleFailure (job: Job, failure: Failure): void {
    if (closed) return drop(job, 'closed', 'mail dropped: the mailer closed during its attempt', failure)
    if (failure.permanent) return drop(job, 'refused', 'mail dropped: refused by the mail server', failure)
    if (job.attempts >= maxAttempts) return drop(job, 'attempts', 'mail dropped: every attempt failed', failure)
    // Full jitter (a random delay up to the exponential cap): instances that failed together do
    // not all come back at the same moment.
    const retryInMs = Math.floor(Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (job.attempts - 1)))
    log.info({ ...describe(job), responseCode: failure.responseCode, error: failure.error, retryInMs }, 'mail attempt failed, will retry')
    const timer = setTimeout(() => {
      retrying.delete(job)
      waiting.push(job)
      startWaiting()
    }, retryInMs)
    timer.unref()
    retrying.set(job, timer)
    tell(job.message.kind, 'retried')
  }

  function send (message: MailMessage): boolean {
    const job: Job = { message, attempts: 0 }
    if (closed) {
      drop(job, 'closed', 'mail dropped: the mailer is closed')
      return false
    }
    // nodemailer encodes headers, but a CR or LF in an address is a header injection attempt
    // (or a bug): refuse it here, whatever the transport would make of it.
    if (hasControlCharacters(message.to) || hasControlCharacters(message.subject)) {
      drop(job, 'refused', 'mail dropped: control characters in the recipient or subject')
      return false
    }
    if (pending() >= maxQueue) {
      drop(job, 'queue_full', 'mail dropped: the mail queue is full')
      return false
    }
    waiting.push(job)
    startWaiting()
    return true
  }

  function idle (waitMs = DEFAULT_IDLE_TIMEOUT_MS): Promise<void> {
    if (pending() === 0) return Promise.resolve()
    return new Promise((resolve) => {
      // Not unref()ed: whoever waits asked for the process to stay up that long (retry timers
      // alone would let it exit mid-wait).
      const timer = setTimeout(done, waitMs)
      function done () {
        clearTimeout(timer)
        idleWaiters.delete(done)
        resolve()
      }
      idleWaiters.add(done)
    })
  }

  async function shutDown (): Promise<void> {
    for (const [job, timer] of retrying) {
      clearTimeout(timer)
      retrying.delete(job)
      drop(job, 'closed', 'mail dropped: the mailer closed before its retry')
    }
    for (const job of waiting.splice(0)) drop(job, 'closed', 'mail dropped: the mailer closed before it was sent')
    if (inFlight.size > 0) {
      const sends = [...inFlight.values()]
      let grace: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.all(sends.map(({ done }) => done)),
        new Promise((resolve) => { grace = setTimeout(resolve, CLOSE_GRACE_MS) }),
      ])
      clearTimeout(grace)
      // Those still talking to the server fail with EABORT, and are dropped as 'closed'.
      for (const { abort } of inFlight.values()) abort.abort()
      await Promise.all(sends.map(({ done }) => done))
    }
    transport.close()
    for (const resolve of idleWaiters) resolve()
  }

  return {
    mode: transport.mode,
    send,
    idle,
    close () {
      closed = true
      closing ??= shutDown()
      return closing
    },
  }
}

function classify (err: unknown): Failure {
  const { responseCode, code, originalCode } = (err ?? {}) as { responseCode?: unknown; code?: unknown; originalCode?: unknown }
  const error = typeof originalCode === 'string' ? originalCode : typeof code === 'string' ? code : undefined
  if (typeof responseCode === 'number') {
    // RFC 5321: 5yz refuses for good, 4yz for now. 503 (bad sequence of commands) is about the
    // session, not the message, and nodemailer counts it as transient too.
    return { permanent: responseCode >= 500 && responseCode <= 599 && responseCode !== 503, responseCode, error }
  }
  return { permanent: typeof code === 'string' && PERMANENT_ERROR_CODES.has(code), error }
}

/** What a log line may say about a mail: never its body or token, and the recipient masked. */
function describe (job: Job) {
  return { kind: job.message.kind, to: maskAddress(job.message.to), attempt: job.attempts }
}

/** 'alice@example.com' -> 'a***@example.com': enough to tell mails apart, not to harvest addresses. */
function maskAddress (address: string): string {
  const at = address.lastIndexOf('@')
  const first = at > 0 ? address[0] : ''
  const domain = at >= 0 ? address.slice(at) : ''
  // A refused address may hold CR/LF: never let it shape the log line.
  return Array.from(`${first}***${domain}`, (char) => hasControlCharacters(char) ? '?' : char).join('')
}

function positiveInteger (name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`Mailer option ${name} must be a positive integer, not ${value}`)
  return value
}
