import { isRevokedCause, type RevokedCause } from './answers.js'
import type { SessionClaims } from './token.js'

/**
 * Whether a session is live, and if not why: the contract's rule (docs/session-contract.md,
 * "Reading a session from another service") on values already read. No I/O: reader.ts reads
 * them in one round trip and hands them here.
 */

/** Why a token does not stand for a live session. */
export type NotLiveReason =
  /** Not a genuine token of this deployment (forged, malformed, wrong algorithm, key, issuer or type). */
  | 'invalid_token'
  /** The token is bound to a client (`aud`) and the request named another one, or none. */
  | 'wrong_audience'
  /** A session hash that is not this token's: another user's, no TTL (a stray write), or another client's. */
  | 'no_session'
  /** This session's own logout ended it. */
  | 'logged_out'
  /** Ended by something else: see `cause`, where it is known. */
  | 'revoked'
  /** Unused for longer than its idle window (its client's, else the TTL in force); also a session that is gone with nothing remembered of it. */
  | 'idle'
  /** Past its absolute end (the token's `exp`, or its client's maximum age). */
  | 'max_age'
  /** The session hash has a layout version this library does not know: upgrade it. */
  | 'unknown_version'

/** Not live, why, and (with `revoked`, when it is known) what ended it. */
export interface NotLive {
  reason: NotLiveReason
  cause?: RevokedCause
}

/** The policy a live session is under: its client's (the hash's `aud` names one with a valid setting), or the global one. */
export type SessionPolicy = 'client' | 'global'

/** Layout versions read: 3, and 1 (a session moved from an old release, completed at its next request). */
const LAYOUT_VERSIONS = new Set(['1', '3'])

/** A field Gatehouse writes as a plain integer; null when absent or written any other way. */
export const integer = (value: string | null | undefined): number | null => (typeof value === 'string' && /^[0-9]{1,16}$/.test(value) ? Number(value) : null)

/** The deployment's settings the rule needs: SESSION_TTL_SECONDS and SESSION_MAX_AGE_SECONDS. */
export interface RuleSettings {
  defaultTtlSeconds: number
  maxAgeSeconds: number
}

/** A client's policy fields in `<prefix>config`, as stored (null when absent). */
export interface ClientFields {
  /** `client_ttl_seconds:<A>` */
  ttlSeconds: string | null
  /** `client_max_age_seconds:<A>` */
  maxAgeSeconds: string | null
  /** `client_ended_before:<A>` */
  endedBefore: string | null
}

/** Everything the rule reads, as one round trip read it: absent keys and fields are null. */
export interface SessionInput {
  /** The session hash; empty when its key is missing. */
  hash: Record<string, string>
  /** The verified token's claims. */
  claims: Pick<SessionClaims, 'jti' | 'user_id' | 'created_at' | 'exp' | 'aud'>
  /** Redis' clock, Unix ms. */
  now: number
  /** The session key's PTTL. */
  pttl: number
  /** `<prefix>user:{<user_id>}:cutoff`. */
  cutoff: string | null
  /** `<prefix>user:{<user_id>}:revoked`: the last revoke-all's cutoff, cause and the session it kept. */
  revocation: { at: string | null, reason: string | null, kept: string | null }
  /** `<prefix>ended:{<user_id>}:<jti>`: how this one session ended, if remembered. */
  ended: string | null
  /** `<prefix>config` session_ttl_seconds. */
  ttlSeconds: string | null
  /** The policy fields of the token's client (`aud`); all null for an unbound token. */
  client: ClientFields
  settings: RuleSettings
}

/** Whole seconds as the contract writes them, within 1..ceiling; null when not valid (then ignored). */
function validSeconds (raw: string | null, ceiling: number): number | null {
  if (raw === null || !/^[0-9]{1,9}$/.test(raw)) return null
  const seconds = Number(raw)
  return seconds >= 1 && seconds <= ceiling ? seconds : null
}

/** A client's valid maximum age and idle window, seconds: a window above the maximum age (or SESSION_MAX_AGE_SECONDS) is ignored. */
function clientLimits (client: ClientFields, { maxAgeSeconds }: RuleSettings) {
  const maxAge = validSeconds(client.maxAgeSeconds, maxAgeSeconds)
  return { maxAge, ttl: validSeconds(client.ttlSeconds, maxAge ?? maxAgeSeconds) }
}

/** Whether ops ended the client's sessions created at `createdAt`: before its cutoff, or every one when the cutoff is not a time (fail closed). */
const clientEnded = (endedBefore: string | null, createdAt: number): boolean =>
  endedBefore !== null && (!/^[0-9]{1,16}$/.test(endedBefore) || createdAt < Number(endedBefore))

const revoked = (cause: string | null | undefined): NotLive => (isRevokedCause(cause) ? { reason: 'revoked', cause } : { reason: 'revoked' })

/** The policy a session falls under, by its hash's `aud`: the idle window (ms) and the absolute end in force. */
export function policyOf ({ hash, ttlSeconds, client, settings }: SessionInput): { kind: SessionPolicy, ttlMs: number, endsAt: number } {
  const globalTtlMs = (validSeconds(ttlSeconds, settings.maxAgeSeconds) ?? settings.defaultTtlSeconds) * 1000
  const maxExpiresAt = integer(hash.max_expires_at) ?? 0
  // No aud field (a session from before the field) or '' (an unbound token): the global policy.
  if (!hash.aud) return { kind: 'global', ttlMs: globalTtlMs, endsAt: maxExpiresAt }
  const { maxAge, ttl } = clientLimits(client, settings)
  return {
    kind: maxAge === null && ttl === null ? 'global' : 'client',
    ttlMs: ttl === null ? globalTtlMs : ttl * 1000,
    endsAt: maxAge === null ? maxExpiresAt : Math.min(maxExpiresAt, (integer(hash.created_at) ?? 0) + maxAge * 1000),
  }
}

/**
 * The contract's rule (docs/session-contract.md, "Reading a session from another service"), in the
 * order Gatehouse applies it (src/sessions/scripts/includes/session-state.lua): null when the
 * session is live, else why not. `client` must be the fields of the token's `aud`: a hash whose
 * `aud` is another is refused before any policy is read.
 */
export function sessionState (input: SessionInput): NotLive | null {
  const { hash, claims, now, pttl } = input
  if (Object.keys(hash).length === 0) return endedReason(input)
  if (!LAYOUT_VERSIONS.has(hash.v ?? '')) return { reason: 'unknown_version' }
  const maxExpiresAt = integer(hash.max_expires_at)
  // A key without a TTL was recreated by a stray write after it ended: not a session.
  if (hash.user_id !== claims.user_id || maxExpiresAt === null || pttl <= 0) return { reason: 'no_session' }
  // A session of another client (or an unbound one) is not this token's: its policy would not be either.
  if (Object.hasOwn(hash, 'aud') && hash.aud !== (claims.aud ?? '')) return { reason: 'no_session' }
  // One that is not an integer (written by hand) ends every session; a hash from before the field
  // existed belongs to the generation of its creation (ms → µs).
  const cutoff = input.cutoff === null ? 0 : integer(input.cutoff) ?? Infinity
  const generation = integer(hash.generation) ?? (integer(hash.created_at) ?? 0) * 1000
  if (cutoff > 0 && generation < cutoff) return revoked(input.revocation.at === input.cutoff && cutoff !== Infinity ? input.revocation.reason : null)
  // The client whose ending applies is the hash's; a session from before the field has the token's
  // (an ending only shortens a life: its windows stay the global ones, below).
  const endingClient = Object.hasOwn(hash, 'aud') ? hash.aud : claims.aud
  if (endingClient && clientEnded(input.client.endedBefore, integer(hash.created_at) ?? 0)) return revoked('client_ended')
  const policy = policyOf(input)
  if (now >= policy.endsAt) return { reason: 'max_age' }
  // Gatehouse always writes last_seen_at; one that is missing or not an integer is taken as idle (fail closed).
  const lastSeenAt = integer(hash.last_seen_at)
  if (lastSeenAt === null || now - lastSeenAt > policy.ttlMs) return { reason: 'idle' }
  return null
}

/**
 * Why a session whose hash is gone ended, from what is remembered of it and the verified token:
 * this session's ending, the user's last revoke-all, its client's ending, its absolute end; with
 * nothing remembered, it ran out of idle time (Redis expired it).
 */
function endedReason ({ claims, now, cutoff, revocation, ended, client, settings }: SessionInput): NotLive {
  if (ended !== null) return ended === 'logged_out' ? { reason: 'logged_out' } : revoked(ended)
  if (cutoff !== null) {
    const at = integer(cutoff)
    if (at === null) return revoked(null)
    if (at > 0 && claims.created_at * 1000 < at && claims.jti !== revocation.kept) return revoked(revocation.at === cutoff ? revocation.reason : null)
  }
  if (claims.aud !== undefined && clientEnded(client.endedBefore, claims.created_at)) return revoked('client_ended')
  const { maxAge } = clientLimits(client, settings)
  const endsAt = Math.min(claims.exp * 1000, maxAge === null ? Infinity : claims.created_at + maxAge * 1000)
  return { reason: now >= endsAt ? 'max_age' : 'idle' }
}
