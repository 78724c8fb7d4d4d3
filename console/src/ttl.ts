import { api, ApiError, type TtlState } from './api.js'
import { clientPolicies } from './clients.js'
import { byId, confirmAction, formatDuration, formatTime, h, notify } from './dom.js'

const PATH = 'admin/settings/session-ttl'

/** The session TTL in force on every instance, and each client's own: read, change and reset through the admin API. */
export function ttlPanel (): HTMLElement {
  const value = h('p', { class: 'big', 'data-test': 'ttl-value' })
  const source = h('p', { class: 'muted', 'data-test': 'ttl-source' })
  const input = h('input', { type: 'number', name: 'ttl_seconds', required: true, inputmode: 'numeric', 'aria-label': 'New TTL in seconds' })
  const reset = h('button', { type: 'button', class: 'quiet', 'data-test': 'ttl-reset' }, 'Reset to default')
  let state: TtlState | null = null
  const clients = clientPolicies(() => read())

  function show (next: TtlState): void {
    state = next
    clients.show(next)
    value.textContent = `${formatDuration(next.ttl_seconds)} (${next.ttl_seconds} s)`
    source.textContent = next.source === 'default'
      ? `The default (SESSION_TTL_SECONDS). Most: ${next.max_ttl_seconds} s (SESSION_MAX_AGE_SECONDS).`
      : `Set by ${next.set_by ?? 'unknown'} on ${next.set_at ? formatTime(next.set_at) : 'an unknown date'}; the default is ${next.default_ttl_seconds} s.`
    input.placeholder = String(next.ttl_seconds)
    reset.disabled = next.source === 'default'
  }

  async function change (seconds: number | null): Promise<void> {
    const current = state?.ttl_seconds
    const target = seconds ?? state?.default_ttl_seconds
    const shorter = current !== undefined && target !== undefined && target < current
    const message = seconds === null
      ? `Reset the session TTL to the default, ${target ?? '?'} s?`
      : `Set the session TTL to ${formatDuration(seconds)} (${seconds} s) on every instance?`
    if (!(await confirmAction(shorter ? `${message} Sessions idle for longer than that end at their next request.` : message, seconds === null ? 'Reset TTL' : 'Set TTL'))) return
    try {
      const next = await api<TtlState>(seconds === null ? 'DELETE' : 'PUT', PATH, seconds === null ? undefined : { ttl_seconds: seconds })
      show(next)
      input.value = ''
      notify(`Session TTL is now ${formatDuration(next.ttl_seconds)} (${next.ttl_seconds} s), ${next.source === 'default' ? 'the default' : 'set by you'}.`)
    } catch (err) {
      notify(`The TTL was not changed: ${(err as ApiError).message}`, 'error')
    }
  }

  const form = h('form', {
    class: 'row',
    on: {
      submit: (event) => {
        event.preventDefault()
        const seconds = Number(input.value)
        // Only what is not a number of seconds at all; the range is the API's to check (and say).
        if (!Number.isSafeInteger(seconds) || seconds < 1) return notify('Enter a whole number of seconds, at least 1.', 'error')
        byId('notice').hidden = true
        void change(seconds)
      },
    },
  }, input, h('button', { type: 'submit' }, 'Set TTL'), reset)
  reset.addEventListener('click', () => { void change(null) })

  const read = () => api<TtlState>('GET', PATH).then(show, (err: ApiError) => notify(`Could not read the TTL: ${err.message}`, 'error'))
  void read()
  return h('section', { id: 'ttl', 'aria-labelledby': 'ttl-title' },
    h('h2', { id: 'ttl-title' }, 'Session TTL'),
    h('p', { class: 'muted' }, 'How long a session lives without use. Each request extends it by this much.'),
    value, source, form, clients.element)
}
