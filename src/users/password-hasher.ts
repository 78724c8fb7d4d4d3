import bcrypt from 'bcryptjs'
import { randomBytes } from 'node:crypto'
import { type BcryptPoolOptions, createBcryptPool, type PasswordPoolStats } from './bcrypt-pool.js'
import { MAX_PASSWORD_BYTES } from './password-rules.js'

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

export interface PasswordHasherOptions extends BcryptPoolOptions {
  cost: number
}

/** The start-up calls' deadline: a hash at the highest cost on a slow machine, but not forever. */
const STARTUP_DEADLINE_MS = 60_000

/** bcrypt at `cost`, in the pool of worker threads (bcrypt-pool.ts); ready once one hash has been made. */
export async function createPasswordHasher ({ cost, ...poolOptions }: PasswordHasherOptions): Promise<PasswordHasher> {
  const pool = createBcryptPool(poolOptions)
  // The start-up calls get a deadline of their own, far longer than a login's: at start-up nothing
  // else is waiting, and a slow machine at a high cost must still start (the plugin refuses a
  // BCRYPT_DEADLINE_MS shorter than one hash). But a thread that cannot start at all (its module
  // fails to load, a thread limit) must stop the start, not hang it.
  const started = performance.now()
  let dummyHash: string
  let startupHashMs: number
  let threadNice: number | null
  try {
    dummyHash = await pool.run<string>('hash', { password: randomBytes(16).toString('hex'), cost }, STARTUP_DEADLINE_MS)
    startupHashMs = performance.now() - started
    // The threads' actual priority: setting it may be refused (a lower nice than the process's
    // own, without the privilege to lower it), and the plugin says so.
    threadNice = await pool.run<number | null>('priority', {}, STARTUP_DEADLINE_MS)
  } catch (err) {
    await pool.close()
    throw new Error(`the bcrypt worker threads did not answer within ${STARTUP_DEADLINE_MS / 1000} s of starting (a warning above may say why)`, { cause: err })
  }

  return {
    hash: (password) => pool.run<string>('hash', { password, cost }),
    async verify (password, stored) {
      const usable = stored !== null && Buffer.byteLength(password, 'utf8') <= MAX_PASSWORD_BYTES
      const ok = await pool.run<boolean>('compare', { password, hash: usable ? stored : dummyHash })
      return ok && usable
    },
    needsRehash: (stored) => bcrypt.getRounds(stored) < cost,
    refuseIfBusy: () => pool.refuseIfBusy(),
    stats: pool.stats,
    startupHashMs,
    threadNice,
    close: pool.close,
  }
}
