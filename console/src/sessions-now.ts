import { api, ApiError, type RecentSession, type RecentSessionPage, SignedOutError } from './api.js'
import { h, notify, relativeTime, timeElement } from './dom.js'
import { present, watchPresence } from './presence.js'

const REFRESH_MS = 30_000
/** After a change, the list is read again this much later: one read for a burst of events. */
const SOON_MS = 1_000

/**
 * "Who is signed in now": how many sessions are live (the count the server made, with its age) and
 * the most recently active sessions across users (GET /admin/sessions). `openUser` shows a user.
 */
export interface SessionsNowPanel {
  element: HTMLElement
  /** Sessions began or ended (an event went by, an admin ended some): read again shortly, once for a burst. */
  refreshSoon(): void
  stop(): void
}

export function sessionsNowPanel (openUser: (id: string) => void): SessionsNowPanel {
  const count = h('p', { class: 'big', 'data-test': 'live-count' }, '…')
  const countedAt = h('p', { class: 'muted', 'data-test': 'live-counted' })
  const rows = h('tbody', { 'data-test': 'recent-sessions' })
  const empty = h('p', { class: 'muted', hidden: true }, 'No session has been active lately.')
  // A page added with "Show more" stays until the reader reloads the list (this button).
  const reload = h('button', { type: 'button', class: 'quiet small' }, 'Refresh')
  const more = h('button', { type: 'button', class: 'quiet', hidden: true }, 'Show more')
  let cursor: string | null = null
  let loads = 0

  /** True once "Show more" added a page: a refresh would take the reader's place away. */
  let paged = false

  async function load (next = false): Promise<void> {
    if (next && more.disabled) return
    const mine = ++loads
    more.disabled = true
    try {
      const page = await api<RecentSessionPage>('GET', `admin/sessions${next && cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`)
      if (mine !== loads) return
      if (page.live_sessions === null) {
        count.textContent = '?'
        countedAt.textContent = 'The live sessions could not be counted just now.'
      } else {
        count.textContent = `${page.live_sessions.count.toLocaleString()} live session${page.live_sessions.count === 1 ? '' : 's'}`
        countedAt.replaceChildren('Counted ', timeElement(page.live_sessions.counted_at), ' across every instance.')
      }
      if (!next) rows.replaceChildren()
      rows.append(...page.sessions.map(row))
      empty.hidden = rows.childElementCount > 0
      cursor = page.next_cursor
      more.hidden = cursor === null
      paged = next
    } catch (err) {
      const e = err as ApiError
      if (mine === loads && !(e instanceof SignedOutError)) notify(`Could not read the live sessions: ${e.message}`, 'error')
    } finally {
      if (mine === loads) more.disabled = false
    }
  }
  const refresh = () => { if (!paged && present()) void load() }
  let soon: ReturnType<typeof setTimeout> | undefined

  function row (session: RecentSession): HTMLElement {
    return h('tr', { 'data-recent-session': session.id },
      h('td', {}, h('button', { type: 'button', class: 'link', title: 'Show this user and their sessions', on: { click: () => openUser(session.user_id) } }, session.email ?? session.user_id)),
      h('td', {}, session.client || '–'),
      h('td', { class: 'agent' }, session.user_agent || '–'),
      h('td', {}, session.ip),
      h('td', { title: `Last written use: ${relativeTime(session.last_seen_at)}` }, timeElement(session.active_at)),
      h('td', {}, timeElement(session.created_at)),
      h('td', {}, timeElement(session.expires_at)))
  }

  more.addEventListener('click', () => { void load(true) })
  reload.addEventListener('click', () => { void load() })
  const timer = setInterval(refresh, REFRESH_MS)
  const stopWatching = watchPresence(refresh, () => {})
  void load()

  const element = h('section', { id: 'now', 'aria-labelledby': 'now-title' },
    h('h2', { id: 'now-title' }, 'Signed in now'),
    count, countedAt,
    h('h3', {}, 'Most recently active ', reload),
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ...['User', 'Client', 'User agent', 'Address', 'Active', 'Signed in', 'Expires'].map((title) => h('th', { scope: 'col' }, title)))),
      rows)),
    empty, more)
  return {
    element,
    refreshSoon () {
      if (soon === undefined) soon = setTimeout(() => { soon = undefined; refresh() }, SOON_MS)
    },
    stop () {
      clearInterval(timer)
      clearTimeout(soon)
      stopWatching()
    },
  }
}
