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
  /** Hashes waiting for a thread (for the metrics). */
  waiting(): number
  /** Stops the worker threads. */
  close(): Promise<void>
}

export interface PasswordHasherOptions {
  cost: number
  /** Worker threads: bcrypt at cost 12 takes a core for about a third of a second per call. */
  threads: number
  /** Calls that may wait for a thread; one more is refused at once with 503 (no unbounded latency). */
  maxQueue: number
}

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
export async function createPasswordHasher ({ cost, threads, maxQueue }: PasswordHasherOptions): Promise<PasswordHasher> {
  const pool = new Piscina({
    filename: new URL('./bcrypt-worker.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    maxQueue,
    // Threads that sit idle for a minute are let go (and started again on demand).
    idleTimeout: 60_000,
    // The worker is plain JavaScript: it needs none of the parent's loaders or flags (under the
    // test runner, a TypeScript loader that takes a second to start in every thread).
    execArgv: [],
  })
  const run = <T>(name: 'hash' | 'compare', task: object): Promise<T> => {
    // A full queue answers now: a login that would wait longer than that is better retried.
    if (pool.queueSize >= maxQueue) return Promise.reject(errors.overloaded())
    return pool.run(task, { name })
  }
  const hash = (password: string) => run<string>('hash', { password, cost })
  const dummyHash = await hash(randomBytes(16).toString('hex')).catch(async (err) => {
    await pool.destroy()
    throw err
  })

  return {
    hash,
    async verify (password, stored) {
      const usable = stored !== null && Buffer.byteLength(password, 'utf8') <= MAX_PASSWORD_BYTES
      const ok = await run<boolean>('compare', { password, hash: usable ? stored : dummyHash })
      return ok && usable
    },
    needsRehash: (stored) => bcrypt.getRounds(stored) < cost,
    waiting: () => pool.queueSize,
    close: () => pool.destroy(),
  }
}
