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

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })
export const formatTime = (iso: string) => timeFormat.format(new Date(iso))

/** 1200 → "20 min", 90 → "1 min 30 s", 7200 → "2 h", 2592000 → "30 d". */
export function formatDuration (seconds: number): string {
  const parts: string[] = []
  const days = Math.floor(seconds / 86400)
  const hours = Math.floor((seconds % 86400) / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  const rest = seconds % 60
  if (days) parts.push(`${days} d`)
  if (hours) parts.push(`${hours} h`)
  if (minutes) parts.push(`${minutes} min`)
  if (rest || parts.length === 0) parts.push(`${rest} s`)
  return parts.join(' ')
}

/** Says what an action did (or why it failed), where a screen reader announces it too. */
export function notify (message: string, kind: 'done' | 'error' = 'done'): void {
  const notice = byId('notice')
  // The sign-in form has taken over: what the page was doing no longer matters.
  if (kind === 'error' && signedOut) return
  notice.textContent = message
  notice.className = kind
  notice.hidden = false
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
/** Whether the console is signed out (main.ts sets it): errors of requests made before are not shown. */
export function setSignedOut (value: boolean): void {
  signedOut = value
  if (value) byId('notice').hidden = true
}

/** Closes the confirmation if one is open (the view is changing under it), as a "no". */
export function dismissConfirmation (): void {
  const dialog = byId<HTMLDialogElement>('confirm')
  if (dialog.open) dialog.close('cancel')
}
