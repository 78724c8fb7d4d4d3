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

export type { ActivityHour, ClientPolicy, EventHistory, EventRow, ListedUser, RecentSession, RecentSessionPage, Session, SessionPage, TtlState, User, UserPage } from './api-types.js'
