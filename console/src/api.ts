// The names Gatehouse gives the CSRF cookie (by COOKIE_SECURE and COOKIE_DOMAIN), in the order it reads the session cookies.
import { CSRF_COOKIE_NAMES, CSRF_HEADER } from '@gatehouse/session-reader/constants'

/**
 * The admin API, called as any client would: the session travels in the HttpOnly cookie (this
 * script never sees the token), and every request that changes something carries the CSRF token
 * from the readable cookie Gatehouse set beside it. URLs are relative to the page, so the console
 * works under whatever path a proxy serves it from.
 */
export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string, readonly retryAfter: number | null = null) {
    super(message)
  }
}

function csrfToken (): string {
  const cookies = new Map(document.cookie.split(';').map((pair) => {
    const at = pair.indexOf('=')
    return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()] as const
  }))
  for (const name of CSRF_COOKIE_NAMES) {
    const value = cookies.get(name)
    if (value) return value
  }
  return ''
}

/** Thrown after a 401 has taken the console back to the sign-in form: callers have nothing left to report. */
export class SignedOutError extends ApiError {}

let onSignedOut: () => void = () => {}
/** Called when any request finds the console's session gone (a 401): main.ts shows the sign-in form. */
export function whenSignedOut (handler: () => void): void {
  onSignedOut = handler
}

export const url = (path: string) => new URL(path, document.baseURI).toString()

export async function api<T = unknown> (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET') headers[CSRF_HEADER] = csrfToken()
  let response: Response
  try {
    response = await fetch(url(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' })
  } catch {
    throw new ApiError(0, 'network', 'Gatehouse did not answer (network error); try again')
  }
  if (response.status === 204) return null as T
  const data = await response.json().catch(() => null) as { error?: string, message?: string } | null
  if (!response.ok) {
    const retryAfter = Number(response.headers.get('retry-after')) || null
    const args = [response.status, data?.error ?? 'http_error', data?.message ?? `Gatehouse answered ${response.status}`, retryAfter] as const
    // A refused login is a 401 too, and a sign-out that finds the session gone is what its caller
    // (main.ts) wanted; any other means this session has ended.
    if (response.status === 401 && path !== 'sessions' && path !== 'sessions/current') {
      onSignedOut()
      throw new SignedOutError(...args)
    }
    throw new ApiError(...args)
  }
  return data as T
}

// The shapes the console reads (docs/api.md).
export interface User { id: string, email: string, role: 'user' | 'admin', created_at: string, email_verified_at: string | null }
export interface Session { id: string, current: boolean, client: string, user_agent: string, ip: string, created_at: string, last_seen_at: string, expires_at: string, max_expires_at: string }
export interface SessionPage { user: User, sessions: Session[], next_cursor: string | null }
export interface ClientPolicy { client: string, idle_timeout_seconds: number | null, max_age_seconds: number | null, ended_before: string | null, set_by: string | null, set_at: string | null }
export interface TtlState { ttl_seconds: number, source: 'default' | 'override', default_ttl_seconds: number, max_ttl_seconds: number, set_by: string | null, set_at: string | null, clients: ClientPolicy[] }
export interface ActivityHour { minutes: number[], live_sessions: Array<number | null>, logins: number[], failed_logins: number[], throttled: number[] }
export interface ListedUser extends User { live_sessions: number, last_seen_at: string | null }
export interface UserPage { users: ListedUser[], next_cursor: string | null }
export interface RecentSession { id: string, user_id: string, email: string | null, client: string, user_agent: string, ip: string, created_at: string, last_seen_at: string, active_at: string, expires_at: string, max_expires_at: string }
export interface RecentSessionPage { live_sessions: { count: number, counted_at: string } | null, sessions: RecentSession[], next_cursor: string | null }
/** One row of the event list: `count` entries of the events stream (a run of one kind, user and reason collapses into one). */
export interface EventRow { id: string, first_id: string, at: string, first_at: string, type: string, reason: string, user_id: string, email: string | null, client: string, session_id: string, count: number }
export interface EventHistory { events: EventRow[], next_before: string | null, oldest_kept: string | null }
