import { ENDED_REASONS, type Ending, isRevokedCause, type RevokedCause } from '@gatehouse/session-reader/answers'
import type { RevokeReason } from './events.js'

// Why a session is over, as its app is told (the 401's `reason` and `cause`; docs/api.md, "Why a
// session ended"): the vocabulary is the session reader library's, so other services say it alike.
export type SessionEnding = Ending

/** What a single session's own logout leaves in its `<prefix>ended:` key (any other value is a cause). */
export const LOGGED_OUT = 'logged_out'

/** The cause an event's revoke reason stands for (a session ended by its own user elsewhere: `signed_out_elsewhere`). */
const CAUSE_OF: Record<RevokeReason, RevokedCause> = {
  logout: 'signed_out_elsewhere',
  'revoke-all': 'signed_out_elsewhere',
  'password-change': 'password_changed',
  'password-reset': 'password_reset',
  'role-change': 'role_changed',
  admin: 'admin',
  cap: 'session_limit',
  'account-deleted': 'account_deleted',
}
export const causeOf = (reason: RevokeReason): RevokedCause => CAUSE_OF[reason]

const REASONS = new Set<string>(ENDED_REASONS)

/** why-ended-4.lua's answer; a stored cause Gatehouse does not know (written by hand) is left out. */
export function endingOf (reason: string, cause: string): SessionEnding {
  if (!REASONS.has(reason)) return { reason: 'idle' }
  return reason === 'revoked' && isRevokedCause(cause) ? { reason, cause } : { reason: reason as SessionEnding['reason'] }
}
