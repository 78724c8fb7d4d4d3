import type { ThrottleConfig } from '../config/index.js'

/**
 * The limits a caller is told about, as quota policies of the IETF RateLimit header fields
 * (draft-ietf-httpapi-ratelimit-headers-11, the RateLimit-Policy and RateLimit fields).
 *
 * Only the limits counted by the caller's own address, or by the email they name from their own
 * network, are policies here. The account's count from all networks (`login_account`) and the
 * silent mail budgets are not: their counts include other networks' attempts, so a remaining count
 * would tell a stranger that someone (the owner, say) tried that email from elsewhere. For the same
 * sequence of requests from one network, every policy here counts alike for an email with an
 * account and one without.
 */
export type QuotaPolicy =
  /** Failed password checks for the email named, from the caller's network (LOGIN_MAX_FAILURES_PER_ACCOUNT_NETWORK). */
  | 'login'
  /** Failed password checks from the caller's address, over every email (LOGIN_MAX_FAILURES_PER_IP). */
  | 'login-ip'
  /** Sign-up attempts from the caller's address (SIGNUP_MAX_PER_IP). */
  | 'signup'
  /** Reset and verification requests for the email named, from the caller's network (MAIL_MAX_PER_EMAIL). */
  | 'mail'
  /** Reset and verification requests from the caller's address (MAIL_MAX_PER_IP). */
  | 'mail-ip'
  /** Wrong mailed tokens from the caller's address (LOGIN_MAX_FAILURES_PER_IP). */
  | 'token-ip'

/** The policies each kind of limited request is counted under: one RateLimit-Policy value per kind. */
export const QUOTA_FAMILIES = {
  password: ['login', 'login-ip'],
  signUp: ['signup'],
  mailRequest: ['mail', 'mail-ip'],
  token: ['token-ip'],
} as const satisfies Record<string, readonly QuotaPolicy[]>

/** A policy's quota (q) and window (w, seconds), from the configuration. */
export interface QuotaSize {
  quota: number
  windowSeconds: number
}

/** What is left of one policy after this request: `r` (remaining) and `t` (seconds). */
export interface QuotaState {
  policy: QuotaPolicy
  remaining: number
  resetSeconds: number
}

export interface QuotaReport {
  /** Every policy the request was counted under, the same whatever its outcome. */
  policies: readonly QuotaPolicy[]
  /**
   * Their state after this request. On a 429, only the policy that refused it, with nothing left
   * until the end of Retry-After.
   */
  states: QuotaState[]
}

/** Told, once the request has been counted, what is left: how an answer gets the RateLimit fields. */
export type OnQuota = (report: QuotaReport) => void

/** Reset and verification requests are counted per hour. */
export const MAIL_WINDOW_SECONDS = 3600

/** Each policy's size; the windows are those the limiters in throttles.ts count over. */
export function quotaSizes (config: ThrottleConfig): Record<QuotaPolicy, QuotaSize> {
  const login = config.loginWindowSeconds
  return {
    login: { quota: config.loginFailuresPerAccountNetwork, windowSeconds: login },
    'login-ip': { quota: config.loginFailuresPerIp, windowSeconds: login },
    signup: { quota: config.signupsPerIp, windowSeconds: config.signupWindowSeconds },
    mail: { quota: config.mailRequestsPerEmail, windowSeconds: MAIL_WINDOW_SECONDS },
    'mail-ip': { quota: config.mailRequestsPerIp, windowSeconds: MAIL_WINDOW_SECONDS },
    'token-ip': { quota: config.loginFailuresPerIp, windowSeconds: login },
  }
}
