import { AppError, errors } from '../http/errors.js'
import type { Metrics } from '../metrics.js'
import type { TokenService } from '../tokens/tokens.js'
import type { PasswordHasher } from '../users/passwords.js'
import { type PublicUser, publicUser, type UserRepository } from '../users/repository.js'
import type { Device, SessionStore } from './store.js'

export interface LoginResult {
  user: PublicUser
  token: string
  /** Sessions of this user ended to stay within SESSION_MAX_PER_USER. */
  evicted: string[]
}

export interface LoginDeps {
  users: UserRepository
  passwords: PasswordHasher
  sessions: SessionStore
  tokens: TokenService
  metrics: Pick<Metrics, 'logins'>
}

/** A well-formed user id that no user has (ids are random v4 UUIDs). */
const NO_SUCH_USER = '00000000-0000-0000-0000-000000000000'

/** Rounds a login may lose to concurrent revocations of the same user before it gives up (503). */
const MAX_ATTEMPTS = 3

export function createLogin({ users, passwords, sessions, tokens, metrics }: LoginDeps) {
  /** Throws `invalid_credentials` (401) for any wrong email or password, all alike. */
  return async function login(email: string, password: string, device: Device): Promise<LoginResult> {
    try {
      const result = await attempt(email, password, device)
      metrics.logins.inc({ result: 'ok' })
      return result
    } catch (err) {
      metrics.logins.inc({ result: err instanceof AppError && err.code === 'invalid_credentials' ? 'failed' : 'error' })
      throw err
    }
  }

  async function attempt(email: string, password: string, device: Device): Promise<LoginResult> {
    for (let round = 0; round < MAX_ATTEMPTS; round++) {
      const found = await users.findByEmail(email)
      // The user's generation is read BEFORE the row the password is checked against: a password
      // or role change that commits after that read also changes the generation, so storing the
      // session below is refused and the login checks the new password instead. An unknown email
      // makes the same two reads (for an id no one has), so it takes as long as a wrong password.
      const id = found?.id ?? NO_SUCH_USER
      const generation = await sessions.generation(id)
      const user = await users.findById(id)
      // An unknown email still costs one bcrypt compare (against a dummy hash), like a wrong password.
      const ok = await passwords.verify(password, user?.passwordHash ?? null)
      if (!ok || !user) throw errors.invalidCredentials()

      const session = await sessions.create({ userId: user.id, role: user.role, device, generation })
      if (!session) continue
      const token = tokens.sign({
        jti: session.id,
        user_id: user.id,
        created_at: session.createdAt,
        iat: Math.floor(session.createdAt / 1000),
        exp: session.maxExpiresAt / 1000,
      })
      return { user: publicUser(user), token, evicted: session.evicted }
    }
    throw errors.busy()
  }
}
