import { Piscina } from 'piscina'
import { errors } from '../shared/errors.js'
import { type Log, silentLog } from '../shared/log.js'

/** What a call asks of a thread (bcrypt-worker.js exports one function of each name). */
export type BcryptCall = 'hash' | 'compare' | 'priority'

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

export interface BcryptPoolOptions {
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

export interface BcryptPool {
  /** Runs one call on a thread, first in, first out, within `ms` (the deadline unless given), or refuses it with `overloaded` (503). */
  run<T>(name: BcryptCall, task: object, ms?: number): Promise<T>
  /** Throws `overloaded` (503) if a call made now, to be done within `ms` (the deadline unless given), would be refused. */
  refuseIfBusy(ms?: number): void
  stats(): PasswordPoolStats
  /** Stops the worker threads. */
  close(): Promise<void>
}

/** Threads are started for hashing and let go after this long without any: an idle server holds none. */
const IDLE_THREAD_MS = 10_000

/**
 * bcryptjs is pure JavaScript: one call at cost 12 holds a core for hundreds of milliseconds. On
 * the event loop that would stall every other request, so hashing and comparing run in a small
 * pool of worker threads (piscina), behind a bounded queue with admission control and a deadline.
 */
export function createBcryptPool ({ threads, maxQueue, deadlineMs, nice, idleMs = IDLE_THREAD_MS, log = silentLog }: BcryptPoolOptions): BcryptPool {
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
    name: BcryptCall
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

  const run = <T>(name: BcryptCall, task: object, ms = deadlineMs): Promise<T> => {
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

  return {
    run,
    refuseIfBusy,
    stats: () => ({ waiting: waiting.length, running, threads: pool.threads.length, refused: { ...refused } }),
    close: () => pool.destroy(),
  }
}
