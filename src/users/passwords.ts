import bcrypt from 'bcryptjs'
import { randomBytes } from 'node:crypto'
import { errors } from '../http/errors.js'

export interface PasswordHasher {
  hash(password: string): Promise<string>
  /**
   * Compares against `hash`, or, for an unknown account (null), against a dummy hash of the same
   * cost, so a wrong password and an unknown email take the same time and cannot be told apart.
   * A password longer than bcrypt reads matches nothing (no one could have set it) at the same cost.
   */
  verify(password: string, hash: string | null): Promise<boolean>
}

/** bcrypt reads at most 72 bytes; longer passwords would be silently truncated, so they are refused. */
export const MAX_PASSWORD_BYTES = 72
export const MIN_PASSWORD_LENGTH = 8

/** Refuses (400) a new password that bcrypt would silently truncate; `field` names it in the message. */
export function checkPasswordBytes(field: string, password: string): void {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw errors.badRequest(`body/${field} must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores anything longer)`)
  }
}

export async function createPasswordHasher(cost: number): Promise<PasswordHasher> {
  const dummyHash = await bcrypt.hash(randomBytes(16).toString('hex'), cost)
  return {
    hash: (password) => bcrypt.hash(password, cost),
    async verify(password, hash) {
      const usable = hash !== null && Buffer.byteLength(password, 'utf8') <= MAX_PASSWORD_BYTES
      const ok = await bcrypt.compare(password, usable ? hash : dummyHash)
      return ok && usable
    },
  }
}
