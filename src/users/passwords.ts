import bcrypt from 'bcryptjs'
import { randomBytes } from 'node:crypto'

export interface PasswordHasher {
  hash(password: string): Promise<string>
  /**
   * Compares against `hash`, or, for an unknown account, against a dummy hash of the same cost,
   * so a wrong password and an unknown email take the same time and cannot be told apart.
   */
  verify(password: string, hash: string | null): Promise<boolean>
}

/** bcrypt reads at most 72 bytes; longer passwords would be silently truncated, so they are refused. */
export const MAX_PASSWORD_BYTES = 72
export const MIN_PASSWORD_LENGTH = 8

export async function createPasswordHasher(cost: number): Promise<PasswordHasher> {
  const dummyHash = await bcrypt.hash(randomBytes(16).toString('hex'), cost)
  return {
    hash: (password) => bcrypt.hash(password, cost),
    async verify(password, hash) {
      const ok = await bcrypt.compare(password, hash ?? dummyHash)
      return ok && hash !== null
    },
  }
}
