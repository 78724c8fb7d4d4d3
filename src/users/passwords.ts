import bcrypt from 'bcryptjs'
import { randomBytes } from 'node:crypto'
import { Piscina } from 'piscina'
import { errors } from '../shared/errors.js'
import { type Log, silentLog } from '../shared/log.js'

export interface PasswordHasher {
  hash(password: string): Promise<string>
  /**
   * Compares against `hash`, or, for an unknown account (null), against a dummy hash of the same
   * cost, so a wrong password and an unknown email take the same time and cannot be told apart.
   * A password longer than bcrypt reads matches nothing (no one could have set it) at the same cost.
   */
  verify(password: string, hash: string | null): Promise<boolean>
  /** A hash made at a lower cost than the one configured: re-hash it when the password is next known. */
  needsRehash(hash: string): boolean
  /**
   * Throws `overloaded` (503) if a check asked for now would be refused: a login asks before its
   * database and Redis reads, which would be wasted, and under a storm of retries are what costs
   * every other request. Depends on the load only, never on the account.
   */
  refuseIfBusy(): void
  /** How busy the pool is, for the metrics. */
  stats(): PasswordPoolStats
  /** How long the dummy hash took at start-up, at the configured cost, on this machine (ms). */
  startupHashMs: number
  /** The nice value the threads actually run at (null where it cannot be read). */
  threadNice: number | null
  /** Stops the worker threads. */
  close(): Promise<void>
}

export interface PasswordPoolStats {
  /** Calls waiting for a thread. */
  waiting: number
  /** Calls running on a thread. */
  running: number
  /** Worker threads alive now (they come and go with the work). */
  threads: number
  /** Calls refused since start: at entry (the queue was full, or would not be served in time), or at the deadline. */
  refused: { atEntry: number; deadline: number }
}

export interface PasswordHasherOptions {
  cost: number
  /** Worker threads: bcrypt at cost 12 takes a core for about a third of a second per call. */
  threads: number
  /** Calls that may wait for a thread; one more is refused at once with 503 (no unbounded latency). */
  maxQueue: number
  /**
   * A call not finished this long after it was made is abandoned (taken out of the queue, or its
   * thread stopped) and refused with 503: under any load a password check ends within this time.
   */
  deadlineMs: number
  /** The threads' nice value (Linux): their share of a core the event loop also wants. */
  nice: number
  /** How long a thread may sit idle before it is let go (default IDLE_THREAD_MS). */
  idleMs?: number
  /** Where a failure of the pool itself is logged. */
  log?: Log
}

/** The start-up calls' deadline: a hash at the highest cost on a slow machine, but not forever. */
const STARTUP_DEADLINE_MS = 60_000

/** Threads are started for hashing and let go after this long without any: an idle server holds none. */
export const IDLE_THREAD_MS = 10_000

/** bcrypt reads at most 72 bytes; longer passwords would be silently truncated, so they are refused. */
export const MAX_PASSWORD_BYTES = 72
export const MIN_PASSWORD_LENGTH = 8

/** Refuses (400) a new password that bcrypt would silently truncate; `field` names it in the message. */
export function checkPasswordBytes (field: string, password: string): void {
  const bytes = Buffer.byteLength(password, 'utf8')
  if (bytes > MAX_PASSWORD_BYTES) {
    // Said in a way a user can act on: the password may be short in characters and still too long.
    throw errors.badRequest(`body/${field} must be at most ${MAX_PASSWORD_BYTES} bytes in UTF-8, and this one is ${bytes}: letters with accents take 2 bytes and most emoji 4, so a password of ${[...password].length} characters can be too long. Use a shorter one`)
  }
}

/**
 * bcryptjs is pure JavaScript: one call at cost 12 holds a core for hundreds of milliseconds. On
 * the event loop that would stall every other request, so hashing and comparing run in a small
 * pool of worker threads (piscina) with a bounded queue.
 */
export async function createPasswordHasher ({ cost, threads, maxQueue, deadlineMs, nice, idleMs = IDLE_THREAD_MS, log = silentLog }: PasswordHasherOptions): Promise<PasswordHasher> {
  const pool = new Piscina({
    filename: new URL('./bcrypt-worker.js', import.meta.url).href,
    // Each thread is a V8 isolate of 15 to 20 MB: started when there is hashing to do, let go when
    // there has been none for a while. Starting one costs a few milliseconds, next to 250 ms of bcrypt.
    minThreads: 0,
    maxThreads: threads,
    idleTimeout: idleMs,
    // The worker is plain JavaScript: it needs none of the parent's loaders or flags (under the
    // test runner, a TypeScript loader that takes a second to start in every thread).
    execArgv: [],
    workerData: { nice },
  })
  // A thread that fails to start would otherwise be an unhandled 'error' event: the process would exit.
  pool.on('error', (err) => log.warn({ err }, 'a bcrypt worker thread failed'))

  // The queue is kept here, not in piscina: piscina does not serve calls that carry an abort signal
  // in order of arrival, and after it stops a thread at a deadline it starts no other until the
  // next call comes. Here calls wait first in, first out, and each is handed to piscina only when a
  // thread is free for it.
  interface Call {
    name: 'hash' | 'compare' | 'priority'
    task: object
    state: 'waiting' | 'running' | 'done'
    startedAt: number
    abort: AbortController
    resolve(value: unknown): void
    reject(err: unknown): void
  }
  const waiting: Call[] = []
  let running = 0
  const refused = { atEntry: 0, deadline: 0 }
  // Admission control: how long one call takes on a thread now (a moving average: under load the
  // threads get less of the CPU and calls take longer).
  let serviceMs = 0

  const dispatch = () => {
    while (running < threads && waiting.length > 0) {
      const call = waiting.shift()!
      call.state = 'running'
      call.startedAt = performance.now()
      running++
      pool.run(call.task, { name: call.name, signal: call.abort.signal }).then(
        ([result, tookMs]: [unknown, number]) => {
          if (call.name !== 'priority') serviceMs = serviceMs === 0 ? tookMs : 0.7 * serviceMs + 0.3 * tookMs
          finish(call, () => call.resolve(result))
        },
        (err: unknown) => {
          // A failure of the pool itself (a thread that died): logged, and the caller gets 503.
          if (call.state === 'running') log.warn({ err }, 'a bcrypt call failed')
          finish(call, () => call.reject(errors.overloaded()))
        }
      )
    }
  }
  const finish = (call: Call, answer: () => void) => {
    if (call.state !== 'running') return // answered already, at its deadline
    call.state = 'done'
    running--
    answer()
    dispatch()
  }

  // A full queue, or one whose turn would come after the deadline, answers now: a login that
  // would wait longer than that is better retried. (With a thread free, a call is always let in:
  // it is also how the estimate learns that the load has passed.)
  const admits = (ms: number) =>
    waiting.length < maxQueue && (running < threads || Math.ceil((running + waiting.length + 1) / threads) * serviceMs <= ms)
  const refuseIfBusy = (ms = deadlineMs) => {
    if (admits(ms)) return
    refused.atEntry++
    throw errors.overloaded()
  }

  const run = <T>(name: 'hash' | 'compare' | 'priority', task: object, ms = deadlineMs): Promise<T> => {
    try {
      refuseIfBusy(ms)
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise<T>((resolve, reject) => {
      const call: Call = { name, task, state: 'waiting', startedAt: 0, abort: new AbortController(), resolve: resolve as (value: unknown) => void, reject }
      // Past the deadline the caller is answered 503 rather than late (or never: a client gives
      // up after some seconds), and the work stops: a call still waiting leaves the queue, a
      // running one has its thread stopped (piscina), so no CPU goes to an answer no one waits for,
      // and its place goes to the next call at once.
      const timer = setTimeout(() => {
        if (call.state === 'waiting') waiting.splice(waiting.indexOf(call), 1)
        if (call.state === 'running') {
          running--
          // It ran this long without finishing: the estimate must not stay below that.
          serviceMs = Math.max(serviceMs, performance.now() - call.startedAt)
        }
        call.state = 'done'
        call.abort.abort()
        refused.deadline++
        reject(errors.overloaded())
        dispatch()
      }, ms)
      const settled = (answer: (value: never) => void) => (value: never) => {
        clearTimeout(timer)
        answer(value)
      }
      call.resolve = settled(call.resolve)
      call.reject = settled(call.reject)
      waiting.push(call)
      dispatch()
    })
  }
  const hash = (password: string) => run<string>('hash', { password, cost })
  // The start-up calls get a deadline of their own, far longer than a login's: at start-up nothing
  // else is waiting, and a slow machine at a high cost must still start (the plugin refuses a
  // BCRYPT_DEADLINE_MS shorter than one hash). But a thread that cannot start at all (its module
  // fails to load, a thread limit) must stop the start, not hang it.
  const started = performance.now()
  let dummyHash: string
  let startupHashMs: number
  let threadNice: number | null
  try {
    dummyHash = await run<string>('hash', { password: randomBytes(16).toString('hex'), cost }, STARTUP_DEADLINE_MS)
    startupHashMs = performance.now() - started
    // The threads' actual priority: setting it may be refused (a lower nice than the process's
    // own, without the privilege to lower it), and the plugin says so.
    threadNice = await run<number | null>('priority', {}, STARTUP_DEADLINE_MS)
  } catch (err) {
    await pool.destroy()
    throw new Error(`the bcrypt worker threads did not answer within ${STARTUP_DEADLINE_MS / 1000} s of starting (a warning above may say why)`, { cause: err })
  }

  return {
    hash,
    async verify (password, stored) {
      const usable = stored !== null && Buffer.byteLength(password, 'utf8') <= MAX_PASSWORD_BYTES
      const ok = await run<boolean>('compare', { password, hash: usable ? stored : dummyHash })
      return ok && usable
    },
    needsRehash: (stored) => bcrypt.getRounds(stored) < cost,
    refuseIfBusy: () => refuseIfBusy(),
    stats: () => ({ waiting: waiting.length, running, threads: pool.threads.length, refused: { ...refused } }),
    startupHashMs,
    threadNice,
    close: () => pool.destroy(),
  }
}
