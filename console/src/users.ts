import { api, ApiError, type Session, type SessionPage, SignedOutError, type User } from './api.js'
import { confirmAction, formatTime, h, notify } from './dom.js'
import { USER_ID_PATTERN } from '@gatehouse/session-reader/constants'

/** A user id as the API writes it (anything else is looked up as an email). */
const USER_ID = new RegExp(USER_ID_PATTERN)

export interface UsersPanel {
  element: HTMLElement
  /** Shows a user (from the search box, or a user id clicked in the live events). */
  open(query: string): Promise<void>
}

/** Find a user by email (or id); their live sessions; end one or all; change their role; delete the account. */
export function usersPanel (me: User): UsersPanel {
  const search = h('input', { type: 'search', name: 'query', required: true, placeholder: 'ada@example.com or a user id', 'aria-label': 'Email or user id', autocomplete: 'off' })
  const result = h('div', { 'data-test': 'user-result' })

  // Only the latest lookup may show its result: an earlier, slower one must not overwrite it.
  let lookups = 0
  async function open (query: string): Promise<void> {
    search.value = query
    const text = query.trim()
    if (text === '') return
    const lookup = ++lookups
    const byId = USER_ID.test(text.toLowerCase())
    try {
      const page = byId
        ? await sessionsOf(text.toLowerCase())
        : await api<{ users: User[] }>('GET', `admin/users?email=${encodeURIComponent(text)}`).then((found) => found.users[0] ? sessionsOf(found.users[0].id) : null)
      if (lookup !== lookups) return
      if (page === null) {
        result.replaceChildren(h('p', { class: 'muted' }, `No user with the email ${text}.`))
        return
      }
      show(page)
    } catch (err) {
      const e = err as ApiError
      if (lookup !== lookups || e instanceof SignedOutError) return
      // By email, user_not_found means the user was deleted between the two requests.
      if (e.code === 'user_not_found') result.replaceChildren(h('p', { class: 'muted' }, byId ? `No user with the id ${text}.` : `No user with the email ${text}.`))
      else notify(`Could not look the user up: ${e.message}`, 'error')
    }
  }

  const sessionsOf = (id: string, cursor?: string) =>
    api<SessionPage>('GET', `admin/users/${id}/sessions${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`)

  function show (page: SessionPage): void {
    const { user } = page
    const rows = h('tbody')
    const addRows = (sessions: Session[]) => rows.append(...sessions.map((session) => sessionRow(user, session)))
    addRows(page.sessions)
    const more = h('button', { type: 'button', class: 'quiet', hidden: page.next_cursor === null }, 'Show more sessions')
    let cursor = page.next_cursor
    more.addEventListener('click', async () => {
      if (cursor === null) return
      try {
        const next = await sessionsOf(user.id, cursor)
        addRows(next.sessions)
        cursor = next.next_cursor
        more.hidden = cursor === null
      } catch (err) {
        notify(`Could not list more sessions: ${(err as ApiError).message}`, 'error')
      }
    })
    const table = page.sessions.length === 0
      ? h('p', { class: 'muted', 'data-test': 'no-sessions' }, 'No live sessions: this user is signed in nowhere.')
      : h('table', {},
        h('thead', {}, h('tr', {}, ...['Client', 'User agent', 'Address', 'Created', 'Last seen', 'Expires', ''].map((title) => h('th', { scope: 'col' }, title)))),
        rows)
    result.replaceChildren(
      h('div', { class: 'user-card' },
        h('h3', {}, user.email),
        h('p', { class: 'muted' }, `Id ${user.id} · signed up ${formatTime(user.created_at)} · ${user.email_verified_at === null ? 'email not confirmed' : `email confirmed ${formatTime(user.email_verified_at)}`}`),
        roleForm(user),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'danger', 'data-test': 'end-all', disabled: page.sessions.length === 0, on: { click: () => { void endAll(user) } } }, 'End all sessions'),
          h('button', {
            type: 'button',
            class: 'danger',
            'data-test': 'delete-user',
            disabled: user.id === me.id,
            title: user.id === me.id ? 'Your own account is deleted from the app (DELETE /me), with your password' : undefined,
            on: { click: () => { void deleteAccount(user) } },
          }, 'Delete account'))),
      table, more)
  }

  function roleForm (user: User): HTMLElement {
    const select = h('select', { name: 'role', 'aria-label': 'Role' },
      h('option', { value: 'user', selected: user.role === 'user' }, 'user'),
      h('option', { value: 'admin', selected: user.role === 'admin' }, 'admin'))
    const self = user.id === me.id
    return h('form', {
      class: 'row',
      on: {
        submit: async (event) => {
          event.preventDefault()
          const role = select.value
          if (role === user.role) return notify(`${user.email} already has the role ${role}.`)
          if (!(await confirmAction(`Make ${user.email} ${role === 'admin' ? 'an admin' : 'a user'}? A role change ends all of their sessions: they sign in again.`, 'Change role'))) return
          try {
            await api('PUT', `admin/users/${user.id}/role`, { role })
            notify(`${user.email} is now ${role === 'admin' ? 'an admin' : 'a user'}; their sessions were ended.`)
            await open(user.id)
          } catch (err) {
            notify(`The role was not changed: ${(err as ApiError).message}`, 'error')
          }
        },
      },
    }, h('label', {}, 'Role ', select), h('button', { type: 'submit', disabled: self, title: self ? 'Another admin must change your role' : undefined }, 'Change role'))
  }

  function sessionRow (user: User, session: Session): HTMLElement {
    const end = async () => {
      const what = `${session.client || 'unnamed client'} (${session.user_agent || 'no user agent'}, ${session.ip})`
      const own = session.current ? ' It is the session of this console: you will be signed out.' : ''
      if (!(await confirmAction(`End this session of ${user.email}: ${what}? Its token stops working at once.${own}`, 'End session'))) return
      try {
        await api('DELETE', `admin/users/${user.id}/sessions/${encodeURIComponent(session.id)}`)
        notify(`Ended the session ${what} of ${user.email}.`)
      } catch (err) {
        const e = err as ApiError
        notify(e.code === 'session_not_found' ? 'That session had already ended.' : `The session was not ended: ${e.message}`, e.code === 'session_not_found' ? 'done' : 'error')
      }
      await open(user.id)
    }
    return h('tr', { 'data-session': session.id },
      h('td', {}, session.client || '–', session.current ? h('span', { class: 'tag' }, 'this console') : null),
      h('td', { class: 'agent' }, session.user_agent || '–'),
      h('td', {}, session.ip),
      h('td', {}, formatTime(session.created_at)),
      h('td', {}, formatTime(session.last_seen_at)),
      h('td', {}, formatTime(session.expires_at)),
      h('td', {}, h('button', { type: 'button', class: 'danger small', on: { click: () => { void end() } } }, 'End')))
  }

  async function endAll (user: User): Promise<void> {
    const self = user.id === me.id
    if (!(await confirmAction(`End every session of ${user.email}?${self ? ' That includes this console: you will be signed out.' : ''} They must sign in again everywhere.`, 'End all sessions'))) return
    try {
      const { revoked } = await api<{ revoked: number }>('DELETE', `admin/users/${user.id}/sessions`)
      notify(`Ended ${revoked} session${revoked === 1 ? '' : 's'} of ${user.email}.`)
      // Your own: this console's session went too, and the next request finds it gone.
      await open(user.id)
    } catch (err) {
      notify(`The sessions were not ended: ${(err as ApiError).message}`, 'error')
    }
  }

  async function deleteAccount (user: User): Promise<void> {
    if (!(await confirmAction(`Delete the account of ${user.email}? Every session ends, and the account cannot be brought back: they would have to sign up again.`, 'Delete account'))) return
    try {
      const { revoked } = await api<{ revoked: number }>('DELETE', `admin/users/${user.id}`)
      notify(`Deleted the account of ${user.email}; ${revoked} session${revoked === 1 ? '' : 's'} ended.`)
      result.replaceChildren(h('p', { class: 'muted' }, `${user.email} has no account any more.`))
    } catch (err) {
      const e = err as ApiError
      if (e instanceof SignedOutError) return
      notify(e.code === 'user_not_found' ? `${user.email} had already been deleted.` : `The account was not deleted: ${e.message}`, e.code === 'user_not_found' ? 'done' : 'error')
    }
  }

  const form = h('form', {
    class: 'row',
    role: 'search',
    on: {
      submit: (event) => {
        event.preventDefault()
        void open(search.value)
      },
    },
  }, search, h('button', { type: 'submit' }, 'Find'))

  const element = h('section', { id: 'users', 'aria-labelledby': 'users-title' },
    h('h2', { id: 'users-title' }, 'Users and their sessions'),
    h('p', { class: 'muted' }, 'Find a user by email (exact, any case) or by user id.'),
    form, result)
  return { element, open }
}
