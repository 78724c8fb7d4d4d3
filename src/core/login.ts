import type { SessionStore } from '../sessions/store.js'
import type { Device } from '../sessions/types.js'
import { errors, isGatehouseError } from '../shared/errors.js'
import type { Log } from '../shared/log.js'
import type { OnQuota } from '../throttle/quotas.js'
import type { Throttles } from '../throttle/throttles.js'
import type { TokenService } from '../tokens/tokens.js'
import type { PasswordHasher } from '../users/password-hasher.js'
import { type PublicUser, publicUser, type UserRepository } from '../users/repository.js'

export interface LoginResult {
  user: PublicUser
  token: string
  /** Sessions of this user ended to stay within SESSION_MAX_PER_USER. */
  evicted: string[]
  /** Seconds until the token expires (the session's absolute end). */
  maxAgeSeconds: number
  /** The session's clock, for the app (Unix ms): its idle end if unused, and its absolute end. */
  expiresAt: number
  maxExpiresAt: number
  /** The sliding window in force, seconds. */
  idleTimeoutSeconds: number
}

export type LoginOutcome = 'ok' | 'failed' | 'throttled' | 'unverified' | 'error'

export interface LoginDeps {
  users: UserRepository
  passwords: PasswordHasher
  throttles: Throttles
  sessions: SessionStore
  tokens: TokenService
  /** Told how each login ended (the metrics count them). */
  observe?: (result: LoginOutcome) => void
  log: Log
  /** REQUIRE_VERIFIED_EMAIL */
  requireVerifiedEmail?: boolean
}

const OUTCOMES: Partial<Record<string, LoginOutcome>> = { invalid_credentials: 'failed', too_many_attempts: 'throttled', email_unverified: 'unverified' }
const outcomeOf = (err: unknown): LoginOutcome => (isGatehouseError(err) && OUTCOMES[err.code]) || 'error'

/** A well-formed user id that no user has (ids are random v4 UUIDs). */
const NO_SUCH_USER = '00000000-0000-0000-0000-000000000000'

/** Rounds a login may lose to concurrent revocations of the same user before it gives up (`busy`). */
const MAX_ATTEMPTS = 3

/**
 * A session and its token for a user whose password was just checked (a login, a sign-up with
 * `sign_in`). `generation`: the user's, read before the check. Null when a revoke-all ran since
 * (the caller checks again).
 */
export async function issueSession (
  { sessions, tokens }: Pick<LoginDeps, 'sessions' | 'tokens'>,
  user: PublicUser,
  device: Device,
  audience: string | null,
  generation: string
): Promise<LoginResult | null> {
  const session = await sessions.create({
    userId: user.id,
    audience,
    role: user.role,
    email: user.email,
    userCreatedAt: Date.parse(user.createdAt),
    emailVerifiedAt: user.emailVerifiedAt === null ? 0 : Date.parse(user.emailVerifiedAt),
    device,
    generation,
  })
  if (!session) return null
  const token = tokens.sign({
    jti: session.id,
    user_id: user.id,
    created_at: session.createdAt,
    iat: Math.floor(session.createdAt / 1000),
    exp: session.maxExpiresAt / 1000,
    ...(audience !== null && { aud: audience }),
  })
  return {
    user,
    token,
    evicted: session.evicted,
    maxAgeSeconds: Math.floor((session.maxExpiresAt - session.createdAt) / 1000),
    expiresAt: session.expiresAt,
    maxExpiresAt: session.maxExpiresAt,
    idleTimeoutSeconds: session.idleTimeoutSeconds,
  }
}

export function createLogin ({ users, passwords, throttles, sessions, tokens, observe = () => {}, log, requireVerifiedEmail = false }: LoginDeps) {
  /**
   * Throws `invalid_credentials` for any wrong email or password, all alike, and
   * `too_many_attempts` once the account's or the address's failures are used up.
   * `audience`: the client the token is to be bound to (`aud`), when it asked for that at login;
   * every request with the token must then name it (JWT_AUD_HEADER). `onQuota`: told what is left
   * of the login limits the caller may see (throttle/quotas.ts), whatever the outcome.
   */
  return async function login (email: string, password: string, device: Device, audience: string | null = null, onQuota?: OnQuota): Promise<LoginResult> {
    try {
      const result = await attempt(email, password, device, audience, onQuota)
      observe('ok')
      return result
    } catch (err) {
      observe(outcomeOf(err))
      throw err
    }
  }

  async function attempt (email: string, password: string, device: Device, audience: string | null, onQuota?: OnQuota): Promise<LoginResult> {
    // A password check the pool would refuse now is refused before the reads below (see refuseIfBusy).
    passwords.refuseIfBusy()
    for (let round = 0; round < MAX_ATTEMPTS; round++) {
      const found = await users.findByEmail(email)
      // The user's generation is read BEFORE the row the password is checked against: a password
      // or role change that commits after that read also changes the generation, so storing the
      // session below is refused and the login checks the new password instead. An unknown email
      // makes the same two reads (for an id no one has), so it takes as long as a wrong password.
      const id = found?.id ?? NO_SUCH_USER
      const generation = await sessions.generation(id)
      const user = await users.findById(id)
      // An unknown email still costs one bcrypt compare (against a dummy hash), like a wrong password,
      // and counts against the same limits.
      const ok = await throttles.passwordAttempt(email, device.ip, () => passwords.verify(password, user?.passwordHash ?? null), onQuota)
      if (!ok || !user) throw errors.invalidCredentials()
      if (passwords.needsRehash(user.passwordHash)) await upgradeHash(user.id, user.passwordHash, password)
      // Only after the password was right: to anyone else this account looks like any other.
      if (requireVerifiedEmail && user.emailVerifiedAt === null) throw errors.emailUnverified()

      const result = await issueSession({ sessions, tokens }, publicUser(user), device, audience, generation)
      if (result) return result
    }
    throw errors.busy()
  }

  /**
   * The password is known right now, so a hash made at a lower BCRYPT_COST is replaced by one at
   * the current cost. Only if the stored hash is still the one just checked (a password change in
   * between wins), and a failure here costs the user nothing: the login goes on.
   */
  async function upgradeHash (userId: string, oldHash: string, password: string): Promise<void> {
    try {
      await users.replacePasswordHash(userId, oldHash, await passwords.hash(password))
    } catch (err) {
      log.warn({ err, userId }, 'could not upgrade a password hash to the current BCRYPT_COST; will try at the next login')
    }
  }
}
