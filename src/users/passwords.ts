import bcrypt from 'bcryptjs'
import { randomBytes } from 'node:crypto'
import { Piscina } from 'piscina'
import { errors } from '../shared/errors.js'

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
  /** How busy the pool is, for the metrics. */
  stats(): PasswordPoolStats
  /** How long the dummy hash took at start-up, at the configured cost, on this machine (ms). */
  startupHashMs: number
  /** Stops the worker threads. */
  close(): Promise<void>
}

export interface PasswordPoolStats {
  /** Calls waiting for a thread. */
  waiting: number
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
   * thread stopped) and refused with 503: under any load a login is answered within this time.
   */
  deadlineMs: number
  /** The threads' nice value (Linux): their share of a core the event loop also wants. */
  nice: number
  /** How long a thread may sit idle before it is let go (default IDLE_THREAD_MS). */
  idleMs?: number
}

/** Threads are started for hashing and let go after this long without any: an idle server holds none. */
export const IDLE_THREAD_MS = 10_000

/** bcrypt reads at most 72 bytes; longer passwords would be silently truncated, so they are refused. */
export const MAX_PASSWORD_BYTES = 72
export const MIN_PASSWORD_LENGTH = 8

/** Refuses (400) a new password that bcrypt would silently truncate; `field` names it in the message. */
export function checkPasswordBytes (field: string, password: string): void {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw errors.badRequest(`body/${field} must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores anything longer)`)
  }
}

/**
 * bcryptjs is pure JavaScript: one call at cost 12 holds a core for hundreds of milliseconds. On
 * the event loop that would stall every other request, so hashing and comparing run in a small
 * pool of worker threads (piscina) with a bounded queue.
 */
export async function createPasswordHasher ({ cost, threads, maxQueue, deadlineMs, nice, idleMs = IDLE_THREAD_MS }: PasswordHasherOptions): Promise<PasswordHasher> {
  const pool = new Piscina({
    filename: new URL('./bcrypt-worker.js', import.meta.url).href,
    // Each thread is a V8 isolate of some 15 MB: started when there is hashing to do, let go when
    // there has been none for a while. Starting one costs a few milliseconds, next to 250 ms of bcrypt.
    minThreads: 0,
    maxThreads: threads,
    maxQueue,
    idleTimeout: idleMs,
    // The worker is plain JavaScript: it needs none of the parent's loaders or flags (under the
    // test runner, a TypeScript loader that takes a second to start in every thread).
    execArgv: [],
    workerData: { nice },
  })
  const refused = { atEntry: 0, deadline: 0 }
  // Admission control: how long one call takes on a thread now (a moving average: under load the
  // threads get less of the CPU and calls take longer), and how many calls are in the pool.
  let serviceMs = 0
  let inFlight = 0
  /** Whether a new call would likely finish within the deadline, waiting its turn behind `inFlight`. */
  const admissible = (ms: number) => inFlight < threads || Math.ceil((inFlight + 1) / threads) * serviceMs <= ms
  const run = async <T>(name: 'hash' | 'compare', task: object, ms = deadlineMs): Promise<T> => {
    // A full queue, or one that would not be served in time, answers now: a login that would wait
    // longer than that is better retried. (With a thread free, a call is always let in: it is
    // also how the estimate learns that the load has passed.)
    if (pool.queueSize >= maxQueue || !admissible(ms)) {
      refused.atEntry++
      throw errors.overloaded()
    }
    // Past the deadline the caller is answered 503 rather than late (or never: a client gives up
    // after some seconds), and the work stops: a check no one waits for takes no more CPU (piscina
    // takes a waiting call out of the queue, and stops the thread of a running one).
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(), ms)
    const turns = Math.ceil((inFlight + 1) / threads)
    inFlight++
    try {
      const [result, tookMs] = await pool.run(task, { name, signal: deadline.signal }) as [T, number]
      serviceMs = serviceMs === 0 ? tookMs : 0.7 * serviceMs + 0.3 * tookMs
      return result
    } catch (err) {
      if (!deadline.signal.aborted) throw err
      refused.deadline++
      // `turns` calls (this one's and those ahead of it) took longer than the deadline: each took
      // at least deadline / turns, and the estimate must not stay below that.
      serviceMs = Math.max(serviceMs, ms / turns)
      throw errors.overloaded()
    } finally {
      inFlight--
      clearTimeout(timer)
    }
  }
  const hash = (password: string) => run<string>('hash', { password, cost })
  // The dummy hash has no deadline: at start-up nothing else is waiting, and a slow machine at a
  // high cost must still start (the plugin warns when the deadline leaves no room for a check).
  const started = performance.now()
  const dummyHash = await run<string>('hash', { password: randomBytes(16).toString('hex'), cost }, 2 ** 31 - 1).catch(async (err) => {
    await pool.destroy()
    throw err
  })
  const startupHashMs = performance.now() - started

  return {
    hash,
    async verify (password, stored) {
      const usable = stored !== null && Buffer.byteLength(password, 'utf8') <= MAX_PASSWORD_BYTES
      const ok = await run<boolean>('compare', { password, hash: usable ? stored : dummyHash })
      return ok && usable
    },
    needsRehash: (stored) => bcrypt.getRounds(stored) < cost,
    stats: () => ({ waiting: pool.queueSize, threads: pool.threads.length, refused: { ...refused } }),
    startupHashMs,
    close: () => pool.destroy(),
  }
}
