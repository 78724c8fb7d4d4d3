import UPlot from 'uplot'
import { api, type ActivityHour, ApiError, type FeedEvent, url } from './api.js'
import { h, notify } from './dom.js'

/** Rows kept in the live list: the newest; older ones leave the page. */
const MAX_ROWS = 200
const CHART_REFRESH_MS = 60_000
const RECONNECT_MS = 5_000

const EVENT_TEXT = new Map([['created', 'signed in'], ['revoked', 'ended'], ['expired', 'expired']])

/** Live session events and charts of the last hour. `openUser` shows a user in the users panel. */
export function activityPanel (openUser: (id: string) => void): { element: HTMLElement, stop(): void } {
  const list = h('ol', { class: 'events', 'data-test': 'events', 'aria-live': 'off' })
  const status = h('p', { class: 'muted', 'data-test': 'events-status' }, 'Connecting…')
  const charts = h('div', { class: 'charts' })
  let source: EventSource | null = null
  let retry: ReturnType<typeof setTimeout> | undefined
  let stopped = false

  function eventRow (event: FeedEvent): HTMLElement {
    const time = new Date(event.at).toLocaleTimeString()
    return h('li', { class: `event ${event.type}`, 'data-type': event.type },
      h('time', { datetime: event.at }, time),
      h('span', { class: 'kind' }, EVENT_TEXT.get(event.type) ?? event.type),
      event.reason ? h('span', { class: 'reason' }, event.reason) : null,
      h('button', { type: 'button', class: 'link', title: 'Show this user', on: { click: () => openUser(event.user_id) } }, event.user_id),
      h('code', { title: 'Session id' }, event.session_id.slice(0, 12)))
  }

  /**
   * A new EventSource opens with the latest events, so the list starts afresh. (EventSource's own
   * reconnects, after a dropped stream, resume after the last event instead.)
   */
  function connect (): void {
    if (stopped || document.visibilityState !== 'visible') return
    list.replaceChildren()
    source = new EventSource(url('admin/events'), { withCredentials: true })
    source.addEventListener('open', () => { status.textContent = 'Live: new events appear at the top.' })
    source.addEventListener('session', (message) => {
      list.prepend(eventRow(JSON.parse((message as MessageEvent<string>).data) as FeedEvent))
      while (list.childElementCount > MAX_ROWS) list.lastElementChild?.remove()
    })
    // After a long gap the server starts over from its latest events instead of replaying them all.
    source.addEventListener('restart', () => list.replaceChildren())
    source.addEventListener('signed-out', () => {
      disconnect()
      // Any request now answers 401, which takes the console back to the sign-in form.
      void api('GET', 'me').catch(() => {})
    })
    source.addEventListener('error', () => {
      // EventSource retries by itself after a dropped stream; after a refused one (401, 503) it gives up.
      if (source?.readyState !== EventSource.CLOSED) {
        status.textContent = 'Reconnecting…'
        return
      }
      status.textContent = `Disconnected; retrying in ${RECONNECT_MS / 1000} s.`
      retry = setTimeout(() => {
        // A 401 here signs the console out (api.ts); anything else, try the stream again.
        api('GET', 'me').then(connect, (err: ApiError) => { if (err.status !== 401) connect() })
      }, RECONNECT_MS)
    })
  }

  function disconnect (): void {
    source?.close()
    source = null
    clearTimeout(retry)
  }

  // A hidden tab holds no stream: it would keep a connection (browsers allow six per host) and,
  // through its retries, the session alive. Back in view, the stream and charts are fetched anew.
  const onVisibility = () => {
    if (document.visibilityState !== 'visible') {
      disconnect()
      status.textContent = 'Paused while this tab is hidden.'
      return
    }
    if (source === null) connect()
    void drawCharts()
  }
  document.addEventListener('visibilitychange', onVisibility)

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
  const refresh = setInterval(() => { if (document.visibilityState === 'visible') void drawCharts() }, CHART_REFRESH_MS)
  return {
    element,
    stop () {
      stopped = true
      disconnect()
      document.removeEventListener('visibilitychange', onVisibility)
      clearInterval(refresh)
      for (const plot of plots) plot.destroy()
    },
  }
}
