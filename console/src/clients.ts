import { api, ApiError, type ClientPolicy, SignedOutError, type TtlState } from './api.js'
import { confirmAction, formatDuration, formatTime, h, notify, timeElement } from './dom.js'
import { parseDuration } from './duration.js'

/** The audience a token can be bound to (JWT-Aud), as the API checks it. */
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/

const seconds = (value: number) => `${formatDuration(value)} (${value} s)`
const clientPath = (client: string) => encodeURIComponent(client)

export interface ClientPolicies {
  element: HTMLElement
  show(state: TtlState): void
}

/**
 * Each client's own idle window and maximum age (the client: the audience its app names at login,
 * JWT-Aud), set, reset and ended through the admin API. `refresh` reads the settings again and
 * shows them (this part included). Client names come from Redis: shown as text only (dom.ts).
 */
export function clientPolicies (refresh: () => Promise<void>): ClientPolicies {
  const list = h('div', { 'data-test': 'client-policies' })
  const client = h('input', { type: 'text', name: 'client', required: true, autocomplete: 'off', placeholder: 'ios', 'aria-label': 'Client (its JWT-Aud)' })
  const idle = h('input', { type: 'text', name: 'idle', required: true, autocomplete: 'off', placeholder: '30d', 'aria-label': 'Idle window' })
  const maxAge = h('input', { type: 'text', name: 'max_age', autocomplete: 'off', placeholder: 'optional, e.g. 90d', 'aria-label': 'Maximum age (optional)' })
  let state: TtlState | null = null

  function show (next: TtlState): void {
    state = next
    if (next.clients.length === 0) {
      list.replaceChildren(h('p', { class: 'muted', 'data-test': 'no-client-policies' }, 'No client has a policy of its own: every client gets the TTL above.'))
      return
    }
    list.replaceChildren(h('table', {},
      h('thead', {}, h('tr', {}, ...['Client', 'Idle window', 'Maximum age', 'Changed', ''].map((title) => h('th', { scope: 'col' }, title)))),
      h('tbody', {}, ...next.clients.map((policy) => row(policy, next)))))
  }

  function row (policy: ClientPolicy, global: TtlState): HTMLElement {
    const own = policy.idle_timeout_seconds !== null || policy.max_age_seconds !== null
    return h('tr', { 'data-client': policy.client },
      h('td', {}, h('code', {}, policy.client)),
      h('td', { class: 'duration' }, policy.idle_timeout_seconds === null ? `the global TTL (${formatDuration(global.ttl_seconds)})` : seconds(policy.idle_timeout_seconds)),
      h('td', { class: 'duration' }, policy.max_age_seconds === null ? `the most (${formatDuration(global.max_ttl_seconds)})` : seconds(policy.max_age_seconds)),
      h('td', {}, ...changed(policy),
        policy.ended_before === null ? null : h('div', { class: 'muted', 'data-test': 'client-ended' }, `Sessions from before ${formatTime(policy.ended_before)} ended`)),
      h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'quiet small', disabled: !own, title: own ? undefined : 'No policy of its own: it already gets the global one', on: { click: () => { void reset(policy.client) } } }, 'Reset'),
        h('button', { type: 'button', class: 'danger small', on: { click: () => { void end(policy.client) } } }, 'End sessions')))
  }

  /** Who changed the policy, and when (relative, the exact time on hover). */
  function changed (policy: ClientPolicy): Array<Node | string> {
    const at = policy.set_at === null ? null : timeElement(policy.set_at)
    if (policy.set_by === null) return [at ?? '–']
    return at === null ? [policy.set_by] : [`${policy.set_by}, `, at]
  }

  /** Runs a change the admin confirmed, says what it did (or the API's reason), and shows the settings as they now are. */
  async function change (what: string, request: () => Promise<string>): Promise<void> {
    try {
      notify(await request())
    } catch (err) {
      if (err instanceof SignedOutError) return
      notify(`${what}: ${(err as ApiError).message}`, 'error')
    }
    await refresh()
  }

  async function set (name: string, idleSeconds: number, maxAgeSeconds: number | null): Promise<void> {
    const lifetime = maxAgeSeconds === null ? `the most sessions may last (${formatDuration(state?.max_ttl_seconds ?? 0)})` : seconds(maxAgeSeconds)
    if (!(await confirmAction(`Give the client ${name} an idle window of ${seconds(idleSeconds)} and a maximum age of ${lifetime}? Its sessions get it on every instance within a second. The longer the window, the longer a stolen device's token keeps working.`, 'Set policy'))) return
    await change('The client policy was not changed', async () => {
      const policy = await api<ClientPolicy>('PUT', `admin/settings/clients/${clientPath(name)}`, { idle_timeout_seconds: idleSeconds, max_age_seconds: maxAgeSeconds })
      for (const input of [client, idle, maxAge]) input.value = ''
      return `The client ${policy.client} now has an idle window of ${seconds(policy.idle_timeout_seconds ?? idleSeconds)}.`
    })
  }

  async function reset (name: string): Promise<void> {
    if (!(await confirmAction(`Put the client ${name} back under the global policy (idle ${formatDuration(state?.ttl_seconds ?? 0)})? Its sessions get it at their next request; those idle for longer than that end.`, 'Reset policy'))) return
    await change('The client policy was not reset', async () => {
      await api<ClientPolicy>('DELETE', `admin/settings/clients/${clientPath(name)}`)
      return `The client ${name} is back under the global policy.`
    })
  }

  async function end (name: string): Promise<void> {
    if (!(await confirmAction(`End every session of the client ${name}, for every user, now? Its apps must sign in again. Other clients' sessions go on.`, 'End sessions'))) return
    await change('The sessions were not ended', async () => {
      const { ended_before: at } = await api<{ ended_before: string }>('DELETE', `admin/clients/${clientPath(name)}/sessions`)
      return `Every session of the client ${name} from before ${formatTime(at)} has ended.`
    })
  }

  const form = h('form', {
    class: 'row',
    'data-test': 'client-form',
    on: {
      submit: (event) => {
        event.preventDefault()
        const name = client.value.trim()
        const idleSeconds = parseDuration(idle.value)
        const maxAgeSeconds = maxAge.value.trim() === '' ? null : parseDuration(maxAge.value)
        // Only what cannot be a client or a duration at all; the ranges are the API's to check (and say).
        if (!CLIENT_NAME.test(name)) return notify('A client is named by the audience its app sends at login (JWT-Aud): 1-128 letters, digits and . _ : / -, starting with a letter or digit.', 'error')
        if (idleSeconds === null || (maxAge.value.trim() !== '' && maxAgeSeconds === null)) return notify('Enter durations as seconds (900) or 90s, 15m, 2h, 30d.', 'error')
        void set(name, idleSeconds, maxAgeSeconds)
      },
    },
  }, h('label', {}, 'Client ', client), h('label', {}, 'Idle ', idle), h('label', {}, 'Max age ', maxAge), h('button', { type: 'submit' }, 'Set client policy'))

  const element = h('div', { class: 'clients', 'aria-labelledby': 'clients-title' },
    h('h3', { id: 'clients-title' }, 'Client policies'),
    h('p', { class: 'muted' }, 'An app names its client at login (JWT-Aud). A client listed here gets its own idle window and maximum age; any other gets the TTL above. No client can pass SESSION_MAX_AGE_SECONDS.'),
    list, form)
  return { element, show }
}
