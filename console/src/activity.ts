import UPlot from 'uplot'
import { api, type ActivityHour, ApiError, type FeedEvent, url } from './api.js'
import { h, notify } from './dom.js'

/** Rows kept in the live list: the newest; older ones leave the page. */
const MAX_ROWS = 200
const CHART_REFRESH_MS = 60_000
const RECONNECT_MS = 5_000

const EVENT_TEXT = new Map([['created', 'signed in'], ['revoked', 'ended'], ['expired', 'expired'], ['user-deleted', 'account deleted']])

/**
 * After this long without a key press or click, the console stops asking for anything: an
 * unattended console must not keep its session alive (every API call extends it, as any client's
 * does), so the session runs out after its TTL like any other.
 */
export const IDLE_MS = 10 * 60_000

/** Live session events and charts of the last hour. `openUser` shows a user in the users panel. */
export function activityPanel (openUser: (id: string) => void): { element: HTMLElement, stop(): void } {
  const list = h('ol', { class: 'events', 'data-test': 'events', 'aria-live': 'off' })
  const status = h('p', { class: 'muted', 'data-test': 'events-status' }, 'Connecting…')
  const charts = h('div', { class: 'charts' })
  let source: EventSource | null = null
  let retry: ReturnType<typeof setTimeout> | undefined
  // Bumped by every disconnect: a retry that was under way when it happened does nothing.
  let generation = 0
  let stopped = false
  let lastInput = Date.now()

  /** Someone is looking: the tab is visible and was used lately. */
  const present = () => !stopped && document.visibilityState === 'visible' && Date.now() - lastInput < IDLE_MS

  function eventRow (event: FeedEvent): HTMLElement {
    const time = new Date(event.at).toLocaleTimeString()
    return h('li', { class: `event ${event.type}`, 'data-type': event.type },
      h('time', { datetime: event.at }, time),
      h('span', { class: 'kind' }, EVENT_TEXT.get(event.type) ?? event.type),
      event.reason ? h('span', { class: 'reason' }, event.reason) : null,
      h('button', { type: 'button', class: 'link', title: 'Show this user', on: { click: () => openUser(event.user_id) } }, event.user_id),
      event.session_id ? h('code', { title: 'Session id' }, event.session_id.slice(0, 12)) : null)
  }

  /**
   * A new EventSource opens with the latest events, so the list starts afresh. (EventSource's own
   * reconnects, after a dropped stream, resume after the last event instead.)
   */
  function connect (): void {
    disconnect()
    if (!present()) return
    const mine = generation
    list.replaceChildren()
    const stream = new EventSource(url('admin/events'), { withCredentials: true })
    source = stream
    stream.addEventListener('open', () => { status.textContent = 'Live: new events appear at the top.' })
    stream.addEventListener('session', (message) => {
      list.prepend(eventRow(JSON.parse((message as MessageEvent<string>).data) as FeedEvent))
      while (list.childElementCount > MAX_ROWS) list.lastElementChild?.remove()
    })
    // After a long gap the server starts over from its latest events instead of replaying them all.
    stream.addEventListener('restart', () => list.replaceChildren())
    stream.addEventListener('signed-out', () => {
      disconnect()
      // A 401 takes the console back to the sign-in form (api.ts); anything else, try again later.
      retryLater(mine + 1)
    })
    stream.addEventListener('error', () => {
      // EventSource retries by itself after a dropped stream; after a refused one (401, 503) it gives up.
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

  function pause (why: string): void {
    disconnect()
    status.textContent = why
  }

  // A hidden tab holds no stream: it would keep a connection (browsers allow six per host). Back in
  // view, or used again after a while, the stream and the charts are fetched anew.
  const resume = () => {
    if (!present()) return
    if (source === null) connect()
    void drawCharts()
  }
  const onVisibility = () => {
    if (document.visibilityState === 'visible') resume()
    else pause('Paused while this tab is hidden.')
  }
  const onInput = () => {
    const wasIdle = Date.now() - lastInput >= IDLE_MS
    lastInput = Date.now()
    if (wasIdle) resume()
  }
  const idleCheck = setInterval(() => {
    if (!stopped && source !== null && !present()) pause('Paused: nobody has used the console for 10 minutes. Click or press a key to resume.')
  }, 30_000)
  document.addEventListener('visibilitychange', onVisibility)
  for (const type of ['pointerdown', 'keydown'] as const) document.addEventListener(type, onInput, { capture: true })

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
    status, list)

  connect()
  void drawCharts()
  const refresh = setInterval(() => { if (present()) void drawCharts() }, CHART_REFRESH_MS)
  return {
    element,
    stop () {
      stopped = true
      disconnect()
      document.removeEventListener('visibilitychange', onVisibility)
      for (const type of ['pointerdown', 'keydown'] as const) document.removeEventListener(type, onInput, { capture: true })
      clearInterval(refresh)
      clearInterval(idleCheck)
      for (const plot of plots) plot.destroy()
    },
  }
}
