import type { SessionStore } from '../sessions/store.js'
import type { SessionUser } from '../sessions/types.js'
import type { UserRepository } from '../users/repository.js'
import type { Role } from '../users/roles.js'
import { liveUser } from './sessions-ended.js'

/** A session's user with its role typed: the hash holds the role login copied from the users table. */
export type UserOfSession = SessionUser & { role: Role }

/**
 * The user of a live session, from its hash: no database on the hot path. A session written by an
 * older release lacks some of it (see LiveSession): Postgres is read once and the session completed
 * in place, at its first use; if its user was deleted meanwhile, it ends, and the answer is null
 * (the caller says what that means: a 401 for a request, inactive for introspection).
 */
export async function sessionUser (
  deps: { users: UserRepository, sessions: SessionStore },
  sessionId: string,
  userId: string,
  live: SessionUser
): Promise<UserOfSession | null> {
  if (live.role !== '' && live.email !== '' && live.userCreatedAt > 0) return live as UserOfSession
  const user = await liveUser(deps, userId)
  if (!user) return null
  const complete = { role: user.role, email: user.email, userCreatedAt: Date.parse(user.createdAt) }
  await deps.sessions.upgrade(sessionId, userId, complete)
  return complete
}
