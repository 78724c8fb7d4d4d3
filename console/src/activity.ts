import UPlot from 'uplot'
import { api, type ActivityHour, ApiError, type EventHistory, type EventRow, SignedOutError, url } from './api.js'
import { h, notify, timeElement } from './dom.js'
import { present, watchPresence } from './presence.js'

/** Rows kept in the list, live and older together: beyond it, the oldest leave the page. */
const MAX_ROWS = 1000
const CHART_REFRESH_MS = 60_000
const RECONNECT_MS = 5_000

const EVENT_TEXT: Record<string, string> = { created: 'signed in', revoked: 'ended', expired: 'expired', 'user-deleted': 'account deleted' }
/** The filters the API takes (docs/api.md, GET /admin/events). */
const TYPES = ['created', 'revoked', 'expired', 'user-deleted']
const REASONS = ['logout', 'admin', 'revoke-all', 'password-change', 'password-reset', 'role-change', 'cap', 'account-deleted', 'ttl', 'idle', 'max-age', 'self', 'cli']

/** Live session events and charts of the last hour. `openUser` shows a user in the users panel. */
export function activityPanel (openUser: (id: string) => void, onEvent: () => void = () => {}): { element: HTMLElement, stop(): void } {
  const list = h('tbody', { 'data-test': 'events', 'aria-live': 'off' })
  const status = h('p', { class: 'muted', 'data-test': 'events-status' }, 'Connecting…')
  const charts = h('div', { class: 'charts' })
  const typeFilter = h('select', { name: 'type', 'aria-label': 'Event' }, h('option', { value: '' }, 'every event'), ...TYPES.map((type) => h('option', { value: type }, EVENT_TEXT[type] ?? type)))
  const reasonFilter = h('select', { name: 'reason', 'aria-label': 'Reason' }, h('option', { value: '' }, 'any reason'), ...REASONS.map((reason) => h('option', { value: reason }, reason)))
  const older = h('button', { type: 'button', class: 'quiet', 'data-test': 'older-events' }, 'Show older events')
  const olderNote = h('p', { class: 'muted', 'data-test': 'older-note', hidden: true })
  let source: EventSource | null = null
  let retry: ReturnType<typeof setTimeout> | undefined
  // Bumped by every disconnect: a retry or a history read that was under way when it happened does nothing.
  let generation = 0
  let stopped = false
  /** Where the last "Show older" stopped (null: at the stream's oldest entry); undefined until then: from the oldest row shown. */
  let before: string | null | undefined

  const filterQuery = () => {
    const params = new URLSearchParams()
    if (typeFilter.value) params.set('type', typeFilter.value)
    if (reasonFilter.value) params.set('reason', reasonFilter.value)
    return params
  }

  function eventRow (event: EventRow): HTMLTableRowElement {
    const who = event.email ?? (event.type === 'user-deleted' ? 'deleted user' : 'unknown user')
    const row = h('tr', { class: `event ${event.type}`, 'data-type': event.type, 'data-id': event.id, 'data-first-id': event.first_id })
    row.append(
      h('td', {}, timeElement(event.at)),
      h('td', { class: 'kind' }, EVENT_TEXT[event.type] ?? event.type, event.count > 1 ? h('span', { class: 'count', 'data-test': 'event-count' }, ` ×${event.count.toLocaleString()}`) : null),
      h('td', { class: 'reason' }, event.reason || '–'),
      h('td', {}, h('button', { type: 'button', class: 'link', title: `Show this user (${event.user_id})`, on: { click: () => openUser(event.user_id) } }, who)),
      h('td', {}, event.client || '–'),
      h('td', {}, event.session_id ? h('code', { title: event.session_id }, event.session_id.slice(0, 8)) : (event.count > 1 ? `${event.count.toLocaleString()} sessions` : '–')))
    rowData.set(row, event)
    return row
  }
  const rowData = new WeakMap<HTMLTableRowElement, EventRow>()

  /** A live row: merged into the newest row when it continues that row's run (same kind, user and reason), else added on top. */
  function addLive (event: EventRow): void {
    const top = list.firstElementChild as HTMLTableRowElement | null
    const last = top ? rowData.get(top) : undefined
    if (last && event.type !== 'created' && last.type === event.type && last.user_id === event.user_id && last.reason === event.reason) {
      top!.replaceWith(eventRow({ ...event, first_id: last.first_id, first_at: last.first_at, count: last.count + event.count, session_id: '' }))
    } else {
      list.prepend(eventRow(event))
    }
    while (list.childElementCount > MAX_ROWS) {
      list.lastElementChild?.remove()
      // The oldest rows left: "Show older" would go on from below them.
      before = undefined
    }
  }

  async function showOlder (): Promise<void> {
    const mine = generation
    const params = filterQuery()
    const oldest = list.lastElementChild as HTMLTableRowElement | null
    const from = before === undefined && oldest ? rowData.get(oldest)?.first_id : before
    if (from === null) return
    if (from !== undefined) params.set('before', from)
    // One read at a time: a double click would read the same stretch twice.
    if (older.disabled) return
    older.disabled = true
    try {
      const page = await api<EventHistory>('GET', `admin/events/history?${params}`)
      if (mine !== generation) return
      for (const event of page.events) list.append(eventRow(event))
      before = page.next_before
      // Full: older rows would push out the newest. A new filter (or a reload) starts the list afresh.
      const full = list.childElementCount >= MAX_ROWS
      older.hidden = page.next_before === null || full
      olderNote.hidden = !full && page.events.length > 0 && page.next_before !== null
      olderNote.textContent = full
        ? `The list holds its most, ${MAX_ROWS} rows: narrow it with a filter to go further back.`
        : page.next_before === null
          ? 'That is the oldest the events stream keeps.'
          : 'Nothing matching in this stretch of the stream; show older events to read on.'
    } catch (err) {
      if (!(err instanceof SignedOutError)) notify(`Could not read older events: ${(err as ApiError).message}`, 'error')
    } finally {
      older.disabled = false
    }
  }

  /**
   * A new EventSource opens with the latest events, so the list starts afresh. (EventSource's own
   * reconnects, after a dropped stream, resume after the last event instead.)
   */
  function connect (): void {
    disconnect()
    if (stopped || !present()) return
    const mine = generation
    list.replaceChildren()
    before = undefined
    older.hidden = false
    olderNote.hidden = true
    const query = filterQuery().toString()
    const stream = new EventSource(url(`admin/events${query ? `?${query}` : ''}`), { withCredentials: true })
    source = stream
    stream.addEventListener('open', () => { status.textContent = 'Live: new events appear at the top.' })
    stream.addEventListener('session', (message) => {
      addLive(JSON.parse((message as MessageEvent<string>).data) as EventRow)
      onEvent()
    })
    // After a long gap the server starts over from its latest events instead of replaying them all.
    stream.addEventListener('restart', () => list.replaceChildren())
    // The server ends a stream after a while (its session is checked again on the next): not an error.
    stream.addEventListener('end', () => {
      disconnect()
      if (present()) connect()
    })
    stream.addEventListener('signed-out', () => {
      disconnect()
      // A 401 takes the console back to the sign-in form (api.ts); anything else, try again later.
      retryLater(mine + 1)
    })
    stream.addEventListener('error', () => {
      // EventSource retries by itself after a dropped stream; after a refused one (401, 429, 503) it gives up.
      if (stream.readyState !== EventSource.CLOSED) {
        status.textContent = 'Reconnecting…'
        return
      }
      disconnect()
      retryLater(mine + 1)
    })
  }

  /** Asks whether the session is still good (a 401 signs the console out), then reconnects. */
  function retryLater (expected: number): void {
    status.textContent = `Disconnected; retrying in ${RECONNECT_MS / 1000} s.`
    retry = setTimeout(() => {
      if (generation !== expected || !present()) return
      api('GET', 'me').then(
        () => { if (generation === expected) connect() },
        (err: ApiError) => { if (generation === expected && err.status !== 401) retryLater(expected) })
    }, RECONNECT_MS)
  }

  function disconnect (): void {
    generation++
    source?.close()
    source = null
    clearTimeout(retry)
  }

  // A hidden tab holds no stream: it would keep a connection (browsers allow six per host). Back in
  // view, or used again after a while, the stream and the charts are fetched anew.
  const stopWatching = watchPresence(() => {
    if (stopped || !present()) return
    if (source === null) connect()
    void drawCharts()
  }, (why) => {
    if (stopped || source === null) return
    disconnect()
    status.textContent = why
  })
  for (const filter of [typeFilter, reasonFilter]) filter.addEventListener('change', connect)
  older.addEventListener('click', () => { void showOlder() })

  const plots: UPlot[] = []
  async function drawCharts (): Promise<void> {
    let hour: ActivityHour
    try {
      hour = await api<ActivityHour>('GET', 'admin/activity')
    } catch (err) {
      notify(`Could not load the charts: ${(err as ApiError).message}`, 'error')
      return
    }
    // Three side by side on a wide screen, one under another on a narrow one.
    const width = Math.max(260, Math.min(560, Math.floor((charts.clientWidth - 32) / 3)))
    const specs: Array<{ title: string, series: Array<{ label: string, values: Array<number | null>, stroke: string }> }> = [
      { title: 'Live sessions', series: [{ label: 'live sessions', values: hour.live_sessions, stroke: '#2563eb' }] },
      { title: 'Logins per minute', series: [{ label: 'logins', values: hour.logins, stroke: '#16a34a' }, { label: 'failed logins', values: hour.failed_logins, stroke: '#dc2626' }] },
      { title: '429s per minute', series: [{ label: '429 answers', values: hour.throttled, stroke: '#d97706' }] },
    ]
    specs.forEach((spec, i) => {
      const data: UPlot.AlignedData = [hour.minutes, ...spec.series.map((s) => s.values)]
      const existing = plots[i]
      if (existing) return existing.setData(data)
      const figure = h('figure', { 'data-test': `chart-${i}` }, h('figcaption', {}, spec.title))
      charts.append(figure)
      plots[i] = new UPlot({
        width,
        height: 180,
        series: [{}, ...spec.series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: false, points: { show: true, size: 4 } }))],
        axes: [{}, { size: 50 }],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      }, data, figure)
    })
  }

  const element = h('section', { id: 'activity', 'aria-labelledby': 'activity-title' },
    h('h2', { id: 'activity-title' }, 'Live activity'),
    h('p', { class: 'muted' }, 'The last hour across every instance, a minute at a time; session events as they happen.'),
    charts,
    h('h3', {}, 'Session events'),
    h('div', { class: 'row' }, h('label', {}, 'Show ', typeFilter), h('label', {}, 'for ', reasonFilter)),
    status,
    h('div', { class: 'scroll events' }, h('table', { class: 'events' },
      h('thead', {}, h('tr', {}, ...['When', 'Event', 'Reason', 'User', 'Client', 'Session'].map((title) => h('th', { scope: 'col' }, title)))),
      list)),
    olderNote, older)

  connect()
  void drawCharts()
  const refresh = setInterval(() => { if (present()) void drawCharts() }, CHART_REFRESH_MS)
  return {
    element,
    stop () {
      stopped = true
      disconnect()
      stopWatching()
      clearInterval(refresh)
      for (const plot of plots) plot.destroy()
    },
  }
}
