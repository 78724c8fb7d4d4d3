import type { Throttles } from '../throttle/throttles.js'
import { checkPasswordBytes, type PasswordHasher } from '../users/passwords.js'
import type { PublicUser, UserRepository } from '../users/repository.js'

export interface SignUpDeps {
  users: UserRepository
  passwords: PasswordHasher
  throttles: Throttles
}

export function createSignUp ({ users, passwords, throttles }: SignUpDeps) {
  /** Throws `email_taken` when the (normalised) email has an account, `too_many_attempts` past the address's limit. */
  return async function signUp (email: string, password: string, ip: string): Promise<PublicUser> {
    // Every attempt counts, a taken email too: that keeps probing which emails have accounts slow.
    await throttles.signUp(ip)
    checkPasswordBytes('password', password)
    return users.create(email, await passwords.hash(password))
  }
}
