import { createHmac } from 'node:crypto'
import { USER_ID_PATTERN } from './constants.js'

/**
 * What a Gatehouse token is, beyond its signature (docs/session-contract.md, "Token"). Gatehouse
 * signs and verifies with these rules and the library verifies with them: one definition.
 */

/** The `typ` header of every token Gatehouse issues (RFC 8725 §3.11: explicit typing). */
export const TOKEN_TYPE = 'gatehouse-session+jwt'
/** The `typ` fast-jwt wrote before tokens were explicitly typed; such tokens carry no `iss` either. */
const LEGACY_TOKEN_TYPE = 'JWT'
/** The issuer Gatehouse names by default (JWT_ISSUER). */
export const DEFAULT_ISSUER = 'gatehouse'

/** 128 random bits, base64url: the only shape of session id Gatehouse ever issues. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/

/** A user id in its one spelling (constants.ts says why there is only one). */
export { USER_ID_PATTERN }
const USER_ID = new RegExp(USER_ID_PATTERN)
export const isUserId = (value: unknown): value is string => typeof value === 'string' && USER_ID.test(value)

/**
 * An audience a client may bind its token to at login (the `JWT-Aud` header): a name, not a
 * secret. Letters, digits and `. _ : / -`, at most 128.
 */
export const AUDIENCE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/

/** The claims every Gatehouse token carries (a verifier's requiredClaims). */
export const REQUIRED_CLAIMS = ['jti', 'user_id', 'created_at', 'iat', 'exp']

/** The claims of a Gatehouse token. */
export interface SessionClaims {
  /** The session id. */
  jti: string
  user_id: string
  /** Unix milliseconds when the session was created (Redis clock). */
  created_at: number
  /** Unix seconds. */
  iat: number
  /** Unix seconds: the session's absolute end. */
  exp: number
  /** The issuer (JWT_ISSUER); absent only on tokens issued before tokens were typed. */
  iss?: string
  /** The client the token is bound to, when the client asked for that at login. */
  aud?: string
}

/** Who may pass beyond the signature: this issuer, and whether untyped tokens from before still may. */
export interface TokenRules {
  issuer: string
  /** JWT_ACCEPT_UNTYPED: tokens issued before tokens were typed (until their exp). */
  acceptUntyped: boolean
}

/**
 * The claims of a token whose signature has been verified, if it is a Gatehouse session token of
 * this issuer; null otherwise. Either it is typed (`typ` gatehouse-session+jwt) and names this
 * issuer, or (while `acceptUntyped`) it is a token from before typing (`typ` JWT, no `iss`, no
 * `aud`), accepted until its `exp` like the kid-less tokens of layout 1. Anything in between is refused.
 */
export function sessionClaimsOf (header: unknown, payload: unknown, { issuer, acceptUntyped }: TokenRules): SessionClaims | null {
  if (!isObject(header) || !isObject(payload)) return null
  if (header.typ === TOKEN_TYPE) {
    if (payload.iss !== issuer) return null
    if (payload.aud !== undefined && !(typeof payload.aud === 'string' && AUDIENCE_PATTERN.test(payload.aud))) return null
  } else if (!acceptUntyped || header.typ !== LEGACY_TOKEN_TYPE || payload.iss !== undefined || payload.aud !== undefined) {
    return null
  }
  const ok =
    typeof payload.jti === 'string' &&
    SESSION_ID_PATTERN.test(payload.jti) &&
    // Gatehouse always signs the id PostgreSQL returned; another spelling would name other keys.
    isUserId(payload.user_id) &&
    Number.isSafeInteger(payload.created_at) &&
    Number.isSafeInteger(payload.iat) &&
    Number.isSafeInteger(payload.exp)
  return ok ? (payload as unknown as SessionClaims) : null
}

/** Whether a request may use these claims: a token bound to an audience needs the same one named. */
export function audienceMatches (claims: SessionClaims, presented: string | null | undefined): boolean {
  return claims.aud === undefined || claims.aud === presented
}

/**
 * The `kid` of an HS256 secret: an HMAC of a fixed label under the secret, so it names the secret
 * without revealing anything about it.
 */
export function secretKid (secret: string): string {
  return createHmac('sha256', secret).update('gatehouse key id').digest('base64url').slice(0, 16)
}

/**
 * The header of a compact JWS, decoded without any verification; null if unreadable.
 * @deprecated Lenient: it takes what the contract refuses (padding, invalid UTF-8, `crit`). Keys
 * are picked by `@gatehouse/session-reader/local-keys`, which checks the token's shape first. This
 * function goes in the release after this one.
 */
export function unverifiedHeader (token: string): Record<string, unknown> | null {
  const end = token.indexOf('.')
  if (end <= 0) return null
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, end), 'base64url').toString('utf8'))
    return isObject(header) ? header : null
  } catch {
    return null
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
