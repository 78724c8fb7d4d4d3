import { createHash } from 'node:crypto'
import type { RedisClient } from '../redis/client.js'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible'
import type { ThrottleConfig } from '../config/index.js'
import { errors, orUnavailable } from '../http/errors.js'
import { normaliseEmail } from '../users/repository.js'
import { addressKey } from './client-address.js'

export type Limit = 'login_account' | 'login_ip' | 'signup_ip'

export interface Throttles {
  /**
   * Runs `check` (a password comparison) under the brute-force limits of this account and client
   * address: 429 when either is used up. The attempt is counted against both before it runs, so
   * concurrent guesses cannot slip past the limit; a success is taken back from the address's
   * count and clears the account's. An attempt that could not run (503) counts for neither.
   */
  passwordAttempt(email: string, ip: string, check: () => Promise<boolean>): Promise<boolean>
  /** Counts one sign-up attempt from `ip`; 429 past the limit. */
  signUp(ip: string): Promise<void>
}

export interface ThrottleOptions extends ThrottleConfig {
  keyPrefix: string
  /** Told which limit refused a request (metrics). */
  onLimited?: (limit: Limit) => void
}

/**
 * Brute-force limits with rate-limiter-flexible on the shared Redis, so every instance counts
 * together (keys `<prefix>throttle:<limit>:<id>`, each an integer with the window as its TTL).
 * Login limits fail closed: without Redis there is no login anyway. The sign-up limit falls back
 * to a per-instance count in memory, since sign-up needs only Postgres.
 */
export function createThrottles(redis: RedisClient, options: ThrottleOptions): Throttles {
  const limiter = (name: Limit, points: number, duration: number, insurance = false) =>
    new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${options.keyPrefix}throttle:${name}`,
      points,
      duration,
      // Answer at once while Redis is away (503, or the in-memory count) instead of waiting on it.
      rejectIfRedisNotReady: true,
      ...(insurance ? { insuranceLimiter: new RateLimiterMemory({ points, duration }) } : {}),
    })
  const perAccount = limiter('login_account', options.loginFailuresPerAccount, options.loginWindowSeconds)
  const perAddress = limiter('login_ip', options.loginFailuresPerIp, options.loginWindowSeconds)
  const signUps = limiter('signup_ip', options.signupsPerIp, options.signupWindowSeconds, true)

  /** A refusal of the limiter becomes 429 with the seconds left; a Redis failure, 503. */
  const refusal = (limit: Limit, reason: unknown) => {
    if (!(reason instanceof RateLimiterRes)) return Object.assign(errors.unavailable('redis'), { cause: reason })
    options.onLimited?.(limit)
    return errors.tooManyAttempts(Math.max(1, Math.ceil(reason.msBeforeNext / 1000)))
  }

  return {
    async passwordAttempt(email, ip, check) {
      // Keys never hold an email in clear: they show up in SCAN, MONITOR and slow logs.
      const account = createHash('sha256').update(normaliseEmail(email)).digest('base64url')
      const address = addressKey(ip)
      const [byAccount, byAddress] = await Promise.allSettled([perAccount.consume(account), perAddress.consume(address)])
      const refund = async () => {
        await Promise.allSettled([
          byAccount.status === 'fulfilled' ? perAccount.reward(account) : null,
          byAddress.status === 'fulfilled' ? perAddress.reward(address) : null,
        ])
      }
      if (byAccount.status === 'rejected' || byAddress.status === 'rejected') {
        // No password was checked, so this attempt counts against neither limit.
        await refund()
        throw byAccount.status === 'rejected' ? refusal('login_account', byAccount.reason) : refusal('login_ip', (byAddress as PromiseRejectedResult).reason)
      }
      let ok: boolean
      try {
        ok = await check()
      } catch (err) {
        await refund()
        throw err
      }
      if (ok) await orUnavailable('redis', () => Promise.all([perAccount.delete(account), perAddress.reward(address)]))
      return ok
    },
    async signUp(ip) {
      try {
        await signUps.consume(addressKey(ip))
      } catch (reason) {
        throw refusal('signup_ip', reason)
      }
    },
  }
}
