import { createHash } from 'node:crypto'
import type { RedisClient } from '../redis/client.js'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible'
import type { ThrottleConfig } from '../config/index.js'
import { errors, orUnavailable } from '../shared/errors.js'
import { normaliseEmail } from '../shared/email.js'
import { addressKey, networkKey } from './client-address.js'
import { MAIL_WINDOW_SECONDS, type OnQuota, QUOTA_FAMILIES, type QuotaPolicy, type QuotaState } from './quotas.js'

export type Limit = 'login_account_network' | 'login_account' | 'login_ip' | 'signup_ip' | 'mail_email_network' | 'mail_ip' | 'token_ip'

export interface Throttles {
  /**
   * Runs `check` (a password comparison) under the brute-force limits: this account from this
   * client network, this account from anywhere (not from a network the account has logged in from
   * lately), and this client address; 429 when any is used up. The attempt is counted against them
   * before it runs, so concurrent guesses cannot slip past a limit. A success clears the account's
   * count for its network, remembers the network, and is itself taken back from the other counts.
   * An attempt that could not run (503) counts for none. `onQuota` is told what is left of the
   * `login` and `login-ip` policies (quotas.ts), never of the account's count from all networks.
   */
  passwordAttempt(email: string, ip: string, check: () => Promise<boolean>, onQuota?: OnQuota): Promise<boolean>
  /**
   * Forgets the networks the account logged in from (a password change, an account deletion):
   * whoever knew the old password may have made their own networks known with it.
   */
  forgetNetworks(email: string): Promise<void>
  /** Counts one sign-up attempt from `ip`; 429 past the limit. */
  signUp(ip: string, onQuota?: OnQuota): Promise<void>
  /**
   * Clears the account's failed logins, overall and from `ip`'s network: a password reset from
   * there has just proved the mailbox is the owner's, who should not stay locked out, by their own
   * forgotten password or by a stranger's guesses. (The address's own count, over every account, stays.)
   */
  forgetFailures(email: string, ip: string): Promise<void>
  /**
   * Counts one request for a reset or verification mail: against the client address first (past
   * MAIL_MAX_PER_IP, 429 and nothing else is counted), then against this email from this client
   * network (past MAIL_MAX_PER_EMAIL, 429). Counted alike whether or not the email has an account,
   * so a 429 tells nothing; and a stranger's requests use up only their own network's budget for
   * the email, never the owner's.
   */
  mailRequest(email: string, ip: string, onQuota?: OnQuota): Promise<void>
  /**
   * Whether one more mail may go to this recipient this hour (MAIL_MAX_PER_EMAIL, all networks
   * together): what bounds the mail one inbox gets. Requests from a network the account logged in
   * from lately are not counted, so strangers cannot use it up for the owner. Rejects while Redis is away.
   */
  mailRecipient(email: string, ip: string): Promise<boolean>
  /** Takes one mail of `kind` from the hourly budget of all instances; false when it is used up: send nothing. Rejects while Redis is away. */
  mailBudget(kind: string): Promise<boolean>
  /**
   * Runs `check` (a mailed token's redemption) under the address's limit on wrong tokens
   * (LOGIN_MAX_FAILURES_PER_IP, as wrong passwords): 429 past it. A right token is not counted.
   */
  tokenAttempt<T>(ip: string, check: () => Promise<T | null>, onQuota?: OnQuota): Promise<T | null>
}

export interface ThrottleOptions extends ThrottleConfig {
  keyPrefix: string
  /** Told which limit refused a request (metrics). */
  onLimited?: (limit: Limit) => void
}

const digest = (value: string) => createHash('sha256').update(value).digest('base64url')

/**
 * Networks an account logged in from lately are exempt from its overall limit, so that an attacker
 * with many networks (a botnet, or one IPv6 customer's /56: 256 networks of /64) who uses it up
 * still cannot keep the owner out of the networks the owner uses. Kept per account for
 * KNOWN_NETWORK_DAYS after the last success there, the KNOWN_NETWORKS_MAX most recent.
 */
const KNOWN_NETWORK_DAYS = 30
const KNOWN_NETWORKS_MAX = 10
const KNOWN_NETWORK_MS = KNOWN_NETWORK_DAYS * 24 * 3600 * 1000

/** The policy a caller is told a limit's count under (quotas.ts); the account's overall count shows as its own network's. */
const POLICY_OF: Record<Limit, QuotaPolicy> = {
  login_account_network: 'login',
  login_account: 'login',
  login_ip: 'login-ip',
  signup_ip: 'signup',
  mail_email_network: 'mail',
  mail_ip: 'mail-ip',
  token_ip: 'token-ip',
}

/** What a limiter's answer says is left, in whole seconds as Retry-After counts them. */
const stateOf = (policy: QuotaPolicy, res: RateLimiterRes, quota: number): QuotaState => ({
  policy,
  // A reward that lands after the key expired leaves -1 consumed: never report more than the quota.
  remaining: Math.min(quota, Math.max(0, res.remainingPoints)),
  resetSeconds: Math.max(0, Math.ceil(res.msBeforeNext / 1000)),
})

/** One count an attempt is made against. */
interface Count {
  limit: Limit
  limiter: RateLimiterRedis
  key: string
}

/**
 * Brute-force limits with rate-limiter-flexible on the shared Redis, so every instance counts
 * together (keys `<prefix>throttle:<limit>:<id>`, each an integer with the window as its TTL).
 * Login limits fail closed: without Redis there is no login anyway. The sign-up limit falls back
 * to a per-instance count in memory, since sign-up needs only Postgres.
 */
export function createThrottles (redis: RedisClient, options: ThrottleOptions): Throttles {
  // The limits that answer 429, and two silent budgets (a recipient's mails, every mail of a kind).
  const limiter = (name: Limit | 'mail_email' | 'mail_all', points: number, duration: number, insurance = false) =>
    new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${options.keyPrefix}throttle:${name}`,
      points,
      duration,
      // Answer at once while Redis is away (503, or the in-memory count) instead of waiting on it.
      rejectIfRedisNotReady: true,
      ...(insurance ? { insuranceLimiter: new RateLimiterMemory({ points, duration }) } : {}),
    })
  // Counted per account and client network first: a stranger who knows an email uses up only
  // the budget of their own network, not the owner's (OWASP ASVS 2.2.1). The account's overall
  // count is the backstop against guessing spread over many networks.
  const perAccountNetwork = limiter('login_account_network', options.loginFailuresPerAccountNetwork, options.loginWindowSeconds)
  const perAccount = limiter('login_account', options.loginFailuresPerAccount, options.loginWindowSeconds)
  const perAddress = limiter('login_ip', options.loginFailuresPerIp, options.loginWindowSeconds)
  const signUps = limiter('signup_ip', options.signupsPerIp, options.signupWindowSeconds, true)
  // The mail limits' window, as quotas.ts tells callers.
  const HOUR = MAIL_WINDOW_SECONDS
  const mailPerAddress = limiter('mail_ip', options.mailRequestsPerIp, HOUR)
  const mailPerEmailNetwork = limiter('mail_email_network', options.mailRequestsPerEmail, HOUR)
  const mailsPerRecipient = limiter('mail_email', options.mailRequestsPerEmail, HOUR)
  const mailsInAll = limiter('mail_all', options.mailsPerHour, HOUR)
  const wrongTokens = limiter('token_ip', options.loginFailuresPerIp, options.loginWindowSeconds)

  const knownNetworksKey = (accountId: string) => `${options.keyPrefix}throttle:known_networks:${accountId}`

  /**
   * What an email and a client address are counted under. Keys never hold an email in clear: they
   * show up in SCAN, MONITOR and slow logs.
   */
  const countedAs = (email: string, ip: string) => {
    const normalised = normaliseEmail(email)
    const network = networkKey(ip)
    return { accountId: digest(normalised), network, accountNetwork: digest(`${normalised}\n${network}`) }
  }

  /** Whether the account logged in from `network` within KNOWN_NETWORK_DAYS. */
  const isKnownNetwork = async (accountId: string, network: string) =>
    Date.now() - Number(await redis.hget(knownNetworksKey(accountId), network)) < KNOWN_NETWORK_MS

  /** Takes one from a silent budget: false once it is used up (no 429: the caller drops quietly); rejects while Redis is away. */
  const spend = async (limiter: RateLimiterRedis, key: string): Promise<boolean> => {
    try {
      await limiter.consume(key)
      return true
    } catch (reason) {
      if (reason instanceof RateLimiterRes) return false
      throw reason
    }
  }

  /** Records a successful login's network for the account; keeps the most recent few (bounded). */
  async function rememberNetwork (key: string, network: string): Promise<void> {
    const [, , [, size] = []] = (await redis.multi().hset(key, network, Date.now()).pexpire(key, KNOWN_NETWORK_MS).hlen(key).exec()) ?? []
    if (Number(size) <= KNOWN_NETWORKS_MAX) return
    // At most KNOWN_NETWORKS_MAX + a few (concurrent successes) fields: the oldest go.
    const seen = await redis.hgetall(key)
    const oldest = Object.entries(seen).sort(([, a], [, b]) => Number(a) - Number(b)).slice(0, -KNOWN_NETWORKS_MAX).map(([name]) => name)
    if (oldest.length > 0) await redis.hdel(key, ...oldest)
  }

  /**
   * A refusal of the limiter becomes 429 with the seconds left, and the caller is told that its
   * policy has nothing left until then (RateLimit's t is Retry-After); a Redis failure, 503.
   */
  const refusal = (limit: Limit, reason: unknown, family: readonly QuotaPolicy[], onQuota?: OnQuota) => {
    if (!(reason instanceof RateLimiterRes)) return Object.assign(errors.unavailable('redis'), { cause: reason })
    options.onLimited?.(limit)
    const retryAfterSeconds = Math.max(1, Math.ceil(reason.msBeforeNext / 1000))
    onQuota?.({ policies: family, states: [{ policy: POLICY_OF[limit], remaining: 0, resetSeconds: retryAfterSeconds }] })
    return errors.tooManyAttempts(retryAfterSeconds)
  }

  return {
    async passwordAttempt (email, ip, check, onQuota) {
      const family = QUOTA_FAMILIES.password
      const { accountId, network: clientNetwork, accountNetwork } = countedAs(email, ip)
      const network: Count = { limit: 'login_account_network', limiter: perAccountNetwork, key: accountNetwork }
      const account: Count = { limit: 'login_account', limiter: perAccount, key: accountId }
      const address: Count = { limit: 'login_ip', limiter: perAddress, key: addressKey(ip) }
      const known = await orUnavailable('redis', () => isKnownNetwork(accountId, clientNetwork))
      const counts = known ? [network, address] : [network, account, address]
      const consumed = await Promise.allSettled(counts.map(({ limiter, key }) => limiter.consume(key)))
      const refund = () => Promise.allSettled(counts.map(({ limiter, key }, i) => (consumed[i]!.status === 'fulfilled' ? limiter.reward(key) : null)))
      const refused = consumed.findIndex((outcome) => outcome.status === 'rejected')
      if (refused >= 0) {
        // No password was checked, so this attempt counts against no limit.
        await refund()
        throw refusal(counts[refused]!.limit, (consumed[refused] as PromiseRejectedResult).reason, family, onQuota)
      }
      let ok: boolean
      try {
        ok = await check()
      } catch (err) {
        await refund()
        throw err
      }
      if (!ok) {
        // What the limiters answered when counting the attempt: no further round trip.
        const answered = (count: Count) => (consumed[counts.indexOf(count)] as PromiseFulfilledResult<RateLimiterRes>).value
        onQuota?.({ policies: family, states: [stateOf('login', answered(network), options.loginFailuresPerAccountNetwork), stateOf('login-ip', answered(address), options.loginFailuresPerIp)] })
        return false
      }
      const [, , rewarded] = await orUnavailable('redis', () =>
        Promise.all([perAccountNetwork.delete(network.key), known ? null : perAccount.reward(account.key), perAddress.reward(address.key)]))
      // The network's count is gone: its whole quota is left, for a window that starts at the next failure.
      onQuota?.({
        policies: family,
        states: [
          { policy: 'login', remaining: options.loginFailuresPerAccountNetwork, resetSeconds: options.loginWindowSeconds },
          stateOf('login-ip', rewarded, options.loginFailuresPerIp),
        ],
      })
      // Best effort: a login is not refused for failing to remember where it came from.
      await rememberNetwork(knownNetworksKey(accountId), clientNetwork).catch(() => {})
      return true
    },
    async forgetNetworks (email) {
      await orUnavailable('redis', () => redis.del(knownNetworksKey(digest(normaliseEmail(email)))))
    },
    async signUp (ip, onQuota) {
      const family = QUOTA_FAMILIES.signUp
      const after = await signUps.consume(addressKey(ip)).catch((reason) => { throw refusal('signup_ip', reason, family, onQuota) })
      onQuota?.({ policies: family, states: [stateOf('signup', after, options.signupsPerIp)] })
    },
    async forgetFailures (email, ip) {
      const { accountId, accountNetwork } = countedAs(email, ip)
      await orUnavailable('redis', () => Promise.all([perAccount.delete(accountId), perAccountNetwork.delete(accountNetwork)]))
    },
    async mailRequest (email, ip, onQuota) {
      const family = QUOTA_FAMILIES.mailRequest
      // One after the other: an address over its limit spends nothing of anyone's email budget.
      const perAddress = await mailPerAddress.consume(addressKey(ip)).catch((reason) => { throw refusal('mail_ip', reason, family, onQuota) })
      const perEmail = await mailPerEmailNetwork.consume(countedAs(email, ip).accountNetwork).catch((reason) => { throw refusal('mail_email_network', reason, family, onQuota) })
      onQuota?.({ policies: family, states: [stateOf('mail', perEmail, options.mailRequestsPerEmail), stateOf('mail-ip', perAddress, options.mailRequestsPerIp)] })
    },
    async mailRecipient (email, ip) {
      const { accountId, network } = countedAs(email, ip)
      return (await isKnownNetwork(accountId, network)) || spend(mailsPerRecipient, accountId)
    },
    mailBudget: (kind) => spend(mailsInAll, kind),
    async tokenAttempt (ip, check, onQuota) {
      const family = QUOTA_FAMILIES.token
      const key = addressKey(ip)
      const counted = await wrongTokens.consume(key).catch((reason) => { throw refusal('token_ip', reason, family, onQuota) })
      let result
      try {
        result = await check()
      } catch (err) {
        await wrongTokens.reward(key).catch(() => {})
        throw err
      }
      // Only wrong tokens count: a right one (and the bcrypt run it may take) costs the address nothing.
      // If giving it back fails, the count stands, and so does what the caller is told.
      const after = result === null ? counted : await wrongTokens.reward(key).catch(() => counted)
      onQuota?.({ policies: family, states: [stateOf('token-ip', after, options.loginFailuresPerIp)] })
      return result
    },
  }
}
