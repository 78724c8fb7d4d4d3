import { api, ApiError, type TtlState } from './api.js'
import { clientPolicies } from './clients.js'
import { confirmAction, formatDuration, h, hideNotice, notify, timeElement } from './dom.js'
import { durationInput, parseDuration } from './duration.js'

const PATH = 'admin/settings/session-ttl'

/** The session TTL in force on every instance, and each client's own: read, change and reset through the admin API. */
export function ttlPanel (): HTMLElement {
  const value = h('p', { class: 'big', 'data-test': 'ttl-value' })
  const source = h('p', { class: 'muted', 'data-test': 'ttl-source' })
  const hint = h('span', { id: 'ttl-hint', class: 'muted small' }, 'As 90s, 15m, 2h, 1d, or seconds.')
  const input = h('input', { type: 'text', name: 'ttl', required: true, autocomplete: 'off', spellcheck: 'false', 'aria-label': 'New TTL', 'aria-describedby': 'ttl-hint', placeholder: '20m' })
  const reset = h('button', { type: 'button', class: 'quiet', 'data-test': 'ttl-reset' }, 'Reset to default')
  let state: TtlState | null = null
  const clients = clientPolicies(() => read())

  function show (next: TtlState): void {
    state = next
    clients.show(next)
    // The unit form is what people read; the seconds, smaller, are what the API and the logs say.
    value.replaceChildren(formatDuration(next.ttl_seconds), ' ', h('span', { class: 'seconds' }, `(${next.ttl_seconds} s)`))
    const most = `Most: ${formatDuration(next.max_ttl_seconds)} (SESSION_MAX_AGE_SECONDS).`
    if (next.source === 'default') source.replaceChildren(`The default (SESSION_TTL_SECONDS). ${most}`)
    else {
      source.replaceChildren(`Set by ${next.set_by ?? 'unknown'} `, next.set_at ? timeElement(next.set_at) : 'at an unknown time',
        `; the default is ${formatDuration(next.default_ttl_seconds)}. ${most}`)
    }
    input.placeholder = durationInput(next.ttl_seconds)
    reset.disabled = next.source === 'default'
  }

  async function change (seconds: number | null): Promise<void> {
    const current = state?.ttl_seconds
    const target = seconds ?? state?.default_ttl_seconds
    const shorter = current !== undefined && target !== undefined && target < current
    const message = seconds === null
      ? `Reset the session TTL to the default, ${target === undefined ? '?' : formatDuration(target)}?`
      : `Set the session TTL to ${formatDuration(seconds)} on every instance?`
    if (!(await confirmAction(shorter ? `${message} Sessions idle for longer than that end at their next request.` : message, seconds === null ? 'Reset TTL' : 'Set TTL'))) return
    try {
      const next = await api<TtlState>(seconds === null ? 'DELETE' : 'PUT', PATH, seconds === null ? undefined : { ttl_seconds: seconds })
      show(next)
      input.value = ''
      notify(`Session TTL is now ${formatDuration(next.ttl_seconds)}, ${next.source === 'default' ? 'the default' : 'set by you'}.`)
    } catch (err) {
      notify(`The TTL was not changed: ${(err as ApiError).message}`, 'error')
    }
  }

  const form = h('form', {
    class: 'row',
    on: {
      submit: (event) => {
        event.preventDefault()
        const seconds = parseDuration(input.value)
        // Only what is not a duration at all; the range is the API's to check (and say), as for the CLI.
        if (seconds === null) return notify('Enter a duration such as 15m, 2h or 900 (seconds).', 'error')
        hideNotice()
        void change(seconds)
      },
    },
  }, input, h('button', { type: 'submit' }, 'Set TTL'), reset, hint)
  reset.addEventListener('click', () => { void change(null) })

  const read = () => api<TtlState>('GET', PATH).then(show, (err: ApiError) => notify(`Could not read the TTL: ${err.message}`, 'error'))
  void read()
  return h('section', { id: 'ttl', 'aria-labelledby': 'ttl-title' },
    h('h2', { id: 'ttl-title' }, 'Session TTL'),
    h('p', { class: 'muted' }, 'How long a session lives without use. Each request extends it by this much.'),
    value, source, form, clients.element)
}
