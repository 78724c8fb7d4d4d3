import type { Log } from '../shared/log.js'

/** Users whose email is remembered: the oldest is forgotten first. A few MB at most. */
const EMAIL_CACHE_MAX = 10_000
/** How long an email is remembered: it can change (or the user be deleted), and the console should show that soon. */
const EMAIL_CACHE_TTL_MS = 60_000

export interface EmailCacheOptions {
  /** One query for a list of ids (UserRepository.emailsOf): the ids it does not answer are users that do not exist. */
  lookUp: (ids: string[]) => Promise<Map<string, string>>
  log: Pick<Log, 'warn' | 'info'>
  max?: number
  ttlMs?: number
  now?: () => number
}

/** Users' emails for the console's event rows: each answer names every id it was asked (null: no such user, or unknown). */
export type EmailCache = (ids: Iterable<string>) => Promise<Map<string, string | null>>

/**
 * The console shows a user's email beside each event; one stream turn or history page can name
 * thousands of users, and every open console asks again each second. So: at most one query per
 * call, for the ids not remembered, and a bounded memory of the answers (deleted users included,
 * as null). PostgreSQL down does not fail the caller (the live feed must go on without emails):
 * the ids it could not look up are null, and not remembered; that is logged once per outage.
 */
export function createEmailCache ({ lookUp, log, max = EMAIL_CACHE_MAX, ttlMs = EMAIL_CACHE_TTL_MS, now = Date.now }: EmailCacheOptions): EmailCache {
  // Insertion order is age: a refreshed entry is deleted and added again, so the first is the oldest.
  const known = new Map<string, { email: string | null, at: number }>()
  let failing = false

  const remember = (id: string, email: string | null, at: number) => {
    known.delete(id)
    known.set(id, { email, at })
    if (known.size > max) known.delete(known.keys().next().value!)
  }

  return async (ids) => {
    const answer = new Map<string, string | null>()
    const missing: string[] = []
    const time = now()
    for (const id of ids) {
      if (answer.has(id)) continue
      const entry = known.get(id)
      if (entry && time - entry.at < ttlMs) {
        answer.set(id, entry.email)
      } else {
        answer.set(id, null)
        missing.push(id)
      }
    }
    if (missing.length === 0) return answer
    try {
      const found = await lookUp(missing)
      for (const id of missing) {
        const email = found.get(id) ?? null
        answer.set(id, email)
        remember(id, email, time)
      }
      if (failing) log.info({ users: missing.length }, 'event rows: user emails are looked up again')
      failing = false
    } catch (err) {
      if (!failing) log.warn({ err: (err as Error).message }, 'event rows: user emails cannot be looked up (PostgreSQL); shown as null until it answers')
      failing = true
    }
    return answer
  }
}
