import { relativeTime } from './duration.js'

/**
 * A small element builder. Text is always set as text (never parsed as HTML), so nothing that
 * comes from the API (an email, a user agent, an event field) can become markup or script.
 */
type Child = Node | string | null | undefined | false
type Listeners = Partial<Record<keyof HTMLElementEventMap, (event: Event) => void>>
interface Attributes {
  on?: Listeners
  [name: string]: string | boolean | undefined | Listeners
}

export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  const { on, ...rest } = attributes
  for (const [name, value] of Object.entries(rest)) {
    if (value === true) element.setAttribute(name, '')
    else if (typeof value === 'string') element.setAttribute(name, value)
  }
  for (const [event, listener] of Object.entries(on ?? {})) element.addEventListener(event, listener as EventListener)
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child)
  return element
}

export function byId<T extends HTMLElement = HTMLElement> (id: string): T {
  const element = document.getElementById(id)
  if (!element) throw new Error(`#${id} is missing from the page`)
  return element as T
}

export { formatDuration, relativeTime } from './duration.js'

/** The exact moment, with its time zone: an admin comparing it with a log or a colleague's screen must know which clock it is. */
const timeFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' })
export const formatTime = (iso: string) => timeFormat.format(new Date(iso))

/** A moment as "2 min ago", the exact time (and zone) on hover and for machines; kept fresh by keepRelativeTimesFresh. */
export function timeElement (iso: string): HTMLTimeElement {
  return h('time', { datetime: iso, title: formatTime(iso), 'data-relative': true }, relativeTime(iso))
}

const RELATIVE_REFRESH_MS = 30_000
let relativeTimer: ReturnType<typeof setInterval> | undefined
/**
 * Rewrites every relative time on the page every 30 s ("just now" must not stay "just now"): one
 * timer for the whole page, however many times it shows. Returns what stops it, for when the view goes.
 */
export function keepRelativeTimesFresh (): () => void {
  if (relativeTimer === undefined) {
    relativeTimer = setInterval(() => {
      const now = Date.now()
      for (const time of document.querySelectorAll<HTMLTimeElement>('time[data-relative]')) time.textContent = relativeTime(time.dateTime, now)
    }, RELATIVE_REFRESH_MS)
  }
  return () => {
    clearInterval(relativeTimer)
    relativeTimer = undefined
  }
}

/** A 'done' notice goes by itself after this long; an error stays until dismissed or replaced. */
const DONE_NOTICE_MS = 8_000
let noticeTimer: ReturnType<typeof setTimeout> | undefined

/** Hides the notice, and forgets a pending auto-hide (it belonged to this notice, not the next). */
export function hideNotice (): void {
  clearTimeout(noticeTimer)
  byId('notice').hidden = true
}

/** Hides a 'done' notice later, but not while the admin is pointing at it or has focus in it (reading or about to dismiss it). */
function hideLater (): void {
  noticeTimer = setTimeout(() => {
    if (byId('notice').matches(':hover, :focus-within')) hideLater()
    else hideNotice()
  }, DONE_NOTICE_MS)
}

/** Says what an action did (or why it failed), where a screen reader announces it too. */
export function notify (message: string, kind: 'done' | 'error' = 'done'): void {
  // The sign-in form has taken over: what the page was doing no longer matters.
  if (kind === 'error' && signedOut) return
  const notice = byId('notice')
  clearTimeout(noticeTimer)
  byId('notice-text').textContent = message
  notice.className = kind
  notice.hidden = false
  if (kind === 'done') hideLater()
}

/** Asks before a destructive action; resolves true only if the admin confirms. */
export function confirmAction (message: string, confirmLabel: string): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm')
  // One question at a time: a second click while one is open is not a second yes.
  if (dialog.open) return Promise.resolve(false)
  byId('confirm-message').textContent = message
  byId('confirm-button').textContent = confirmLabel
  dialog.returnValue = ''
  dialog.showModal()
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true }))
}

let signedOut = false
/** Whether the sign-in form (or "Admins only") is what the page shows. */
export const isSignedOut = () => signedOut
/** Whether the console is signed out (main.ts sets it): errors of requests made before are not shown. */
export function setSignedOut (value: boolean): void {
  signedOut = value
  if (value) hideNotice()
}

/** Closes the confirmation if one is open (the view is changing under it), as a "no". */
export function dismissConfirmation (): void {
  const dialog = byId<HTMLDialogElement>('confirm')
  if (dialog.open) dialog.close('cancel')
}
