import { ReaderUnavailableError } from './errors.js'
import { fetchJson } from './fetch-json.js'
import type { SessionSnapshot } from './reader.js'

/**
 * Sliding a session from another service: the one write a reader asks for, and Gatehouse makes
 * it, through its POST /introspect with `extend` (reads never slide a session).
 */

/** Gatehouse's POST /introspect and a credential from its INTROSPECTION_TOKENS. */
export interface IntrospectionTarget {
  url: string
  credential: string
  /** Time limit of one call, body included (default 2 s). */
  timeoutMs?: number
}

export interface Slides {
  /** Slides the session through Gatehouse's POST /introspect with extend. True if it is live. */
  extend(token: string): Promise<boolean>
  /** Slides it only when a tenth of its idle timeout has passed since its last use (see SessionReader). */
  extendIfDue(token: string, session: SessionSnapshot): Promise<boolean>
}

/** How many slides may be in flight at once; past it a due slide waits for a later request. */
const MAX_SLIDES_IN_FLIGHT = 10_000
/** After a slide failed (Gatehouse down or slow), none is tried for this long: an outage is not met with a call per request. */
const SLIDE_BACKOFF_MS = 5000

/** `options.introspection` is read at each call: without it, a slide throws a TypeError. */
export function createSlides (options: { introspection?: IntrospectionTarget }): Slides {
  async function extend (token: string): Promise<boolean> {
    const target = options.introspection
    if (!target) throw new TypeError('extend needs the introspection option (Gatehouse POST /introspect and a credential)')
    let body: unknown
    try {
      body = (await fetchJson(target.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${target.credential}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ token, extend: true }),
      }, {
        timeoutMs: target.timeoutMs ?? 2000,
        maxBytes: 16 * 1024,
        // A 401 here is the service's credential, not the user: a fault, never "not live".
        accept: (status) => status === 200,
      })).body
    } catch (err) {
      throw new ReaderUnavailableError('gatehouse', err)
    }
    return typeof body === 'object' && body !== null && (body as { active?: unknown }).active === true
  }

  const slides = new Map<string, Promise<boolean>>()
  let failedAt = -Infinity
  async function extendIfDue (token: string, live: SessionSnapshot): Promise<boolean> {
    if (live.readAt - live.lastSeenAt < live.idleTimeoutMs / 10) return true
    const pending = slides.get(live.sessionId)
    if (pending) return pending
    // Bounded: past the cap, or shortly after a failure, a later request slides it.
    if (slides.size >= MAX_SLIDES_IN_FLIGHT || Date.now() - failedAt < SLIDE_BACKOFF_MS) return true
    const slide = extend(token)
      .catch((err: unknown) => {
        failedAt = Date.now()
        throw err
      })
      .finally(() => slides.delete(live.sessionId))
    slides.set(live.sessionId, slide)
    return slide
  }

  return { extend, extendIfDue }
}
