import { api, ApiError, type ListedUser, type Session, type SessionPage, SignedOutError, type User, type UserPage } from './api.js'
import { confirmAction, h, notify, timeElement } from './dom.js'

const SEARCH_DELAY_MS = 250

export interface UsersPanel {
  element: HTMLElement
  /** The view is going: a search typed a moment ago is not sent. */
  stop(): void
  /** Shows a user and their sessions (a row of the list, or a user clicked elsewhere); the search box keeps what was typed. */
  open(id: string): Promise<void>
}

/**
 * Every user, newest first, searched as you type (part of the email, any case); a user's live
 * sessions; end one or all; change their role; delete the account.
 */
export function usersPanel (me: User, changed: () => void = () => {}): UsersPanel {
  const search = h('input', { type: 'search', name: 'query', placeholder: 'Part of an email, e.g. bob', 'aria-label': 'Search users by email', autocomplete: 'off', maxlength: '254' })
  const listBody = h('tbody', { 'data-test': 'user-list' })
  const listNote = h('p', { class: 'muted', 'data-test': 'user-list-note' })
  const moreUsers = h('button', { type: 'button', class: 'quiet', hidden: true }, 'Show more users')
  const result = h('div', { 'data-test': 'user-result' })
  let nextUsers: string | null = null

  // Only the latest search may show its result: an earlier, slower one must not overwrite it.
  let searches = 0
  async function listUsers (more = false): Promise<void> {
    // One page at a time: a double click would add the same page twice.
    if (more && moreUsers.disabled) return
    const query = search.value.trim()
    const mine = ++searches
    moreUsers.disabled = true
    const params = new URLSearchParams()
    if (query !== '') params.set('q', query)
    if (more && nextUsers !== null) params.set('cursor', nextUsers)
    try {
      const page = await api<UserPage>('GET', `admin/users${params.size > 0 ? `?${params}` : ''}`)
      if (mine !== searches) return
      if (!more) listBody.replaceChildren()
      listBody.append(...page.users.map(userRow))
      nextUsers = page.next_cursor
      moreUsers.hidden = nextUsers === null
      const shown = listBody.childElementCount
      listNote.textContent = shown === 0
        ? (query === '' ? 'No users yet.' : `No user's email contains "${query}".`)
        : `${shown}${nextUsers === null ? '' : '+'} user${shown === 1 ? '' : 's'}${query === '' ? ', newest first' : ` whose email contains "${query}", newest first`}.`
    } catch (err) {
      const e = err as ApiError
      if (mine !== searches || e instanceof SignedOutError) return
      listNote.textContent = e.status === 400 ? e.message : `Could not list users: ${e.message}`
    } finally {
      if (mine === searches) moreUsers.disabled = false
    }
  }

  function userRow (user: ListedUser): HTMLElement {
    return h('tr', { 'data-user': user.id },
      h('td', {}, h('button', { type: 'button', class: 'link', title: 'Show this user and their sessions', on: { click: () => { void open(user.id) } } }, user.email)),
      h('td', {}, user.role),
      h('td', {}, user.email_verified_at === null ? 'no' : timeElement(user.email_verified_at)),
      h('td', { class: 'number' }, String(user.live_sessions)),
      h('td', {}, user.last_seen_at === null ? '–' : timeElement(user.last_seen_at)),
      h('td', {}, timeElement(user.created_at)))
  }

  let timer: ReturnType<typeof setTimeout> | undefined
  search.addEventListener('input', () => {
    clearTimeout(timer)
    timer = setTimeout(() => { void listUsers() }, SEARCH_DELAY_MS)
  })
  moreUsers.addEventListener('click', () => { void listUsers(true) })

  let lookups = 0
  async function open (id: string): Promise<void> {
    const lookup = ++lookups
    try {
      const page = await sessionsOf(id)
      if (lookup === lookups) show(page)
    } catch (err) {
      const e = err as ApiError
      if (lookup !== lookups || e instanceof SignedOutError) return
      if (e.code === 'user_not_found') result.replaceChildren(h('p', { class: 'muted' }, 'That user no longer exists.'))
      else notify(`Could not look the user up: ${e.message}`, 'error')
    }
    result.scrollIntoView({ behavior: 'smooth', block: 'nearest' })
  }

  /** After an action: the user as they are now, the list's counts, and whoever else shows sessions. */
  async function afterChange (id: string): Promise<void> {
    changed()
    await Promise.all([open(id), listUsers()])
  }

  const sessionsOf = (id: string, cursor?: string) =>
    api<SessionPage>('GET', `admin/users/${encodeURIComponent(id)}/sessions${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`)

  function show (page: SessionPage): void {
    const { user } = page
    const rows = h('tbody')
    const addRows = (sessions: Session[]) => rows.append(...sessions.map((session) => sessionRow(user, session)))
    addRows(page.sessions)
    const more = h('button', { type: 'button', class: 'quiet', hidden: page.next_cursor === null }, 'Show more sessions')
    let cursor = page.next_cursor
    more.addEventListener('click', async () => {
      // One page at a time: a double click would add the same page twice.
      if (cursor === null || more.disabled) return
      more.disabled = true
      try {
        const next = await sessionsOf(user.id, cursor)
        addRows(next.sessions)
        cursor = next.next_cursor
        more.hidden = cursor === null
      } catch (err) {
        notify(`Could not list more sessions: ${(err as ApiError).message}`, 'error')
      } finally {
        more.disabled = false
      }
    })
    const table = page.sessions.length === 0
      ? h('p', { class: 'muted', 'data-test': 'no-sessions' }, 'No live sessions: this user is signed in nowhere.')
      : h('div', { class: 'scroll' }, h('table', {},
        h('thead', {}, h('tr', {}, ...['Client', 'User agent', 'Address', 'Created', 'Last seen', 'Expires', ''].map((title) => h('th', { scope: 'col' }, title)))),
        rows))
    result.replaceChildren(
      h('div', { class: 'user-card' },
        h('h3', {}, user.email),
        h('p', { class: 'muted' }, `Id ${user.id} · signed up `, timeElement(user.created_at), ` · ${user.email_verified_at === null ? 'email not confirmed' : 'email confirmed '}`, user.email_verified_at === null ? null : timeElement(user.email_verified_at)),
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
            await afterChange(user.id)
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
      await afterChange(user.id)
    }
    return h('tr', { 'data-session': session.id },
      h('td', {}, session.client || '–', session.current ? h('span', { class: 'tag' }, 'this console') : null),
      h('td', { class: 'agent' }, session.user_agent || '–'),
      h('td', {}, session.ip),
      h('td', {}, timeElement(session.created_at)),
      h('td', {}, timeElement(session.last_seen_at)),
      h('td', {}, timeElement(session.expires_at)),
      h('td', {}, h('button', { type: 'button', class: 'danger small', on: { click: () => { void end() } } }, 'End')))
  }

  async function endAll (user: User): Promise<void> {
    const self = user.id === me.id
    if (!(await confirmAction(`End every session of ${user.email}?${self ? ' That includes this console: you will be signed out.' : ''} They must sign in again everywhere.`, 'End all sessions'))) return
    try {
      const { revoked } = await api<{ revoked: number }>('DELETE', `admin/users/${user.id}/sessions`)
      notify(`Ended ${revoked} session${revoked === 1 ? '' : 's'} of ${user.email}.`)
      // Your own: this console's session went too, and the next request finds it gone.
      await afterChange(user.id)
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
      void listUsers()
      changed()
    } catch (err) {
      const e = err as ApiError
      if (e instanceof SignedOutError) return
      notify(e.code === 'user_not_found' ? `${user.email} had already been deleted.` : `The account was not deleted: ${e.message}`, e.code === 'user_not_found' ? 'done' : 'error')
    }
  }

  const element = h('section', { id: 'users', 'aria-labelledby': 'users-title' },
    h('h2', { id: 'users-title' }, 'Users'),
    h('form', { class: 'row', role: 'search', on: { submit: (event) => { event.preventDefault(); void listUsers() } } }, search),
    listNote,
    h('div', { class: 'scroll' }, h('table', { class: 'users' },
      h('thead', {}, h('tr', {}, ...['Email', 'Role', 'Verified', 'Live sessions', 'Last active', 'Signed up'].map((title) => h('th', { scope: 'col' }, title)))),
      listBody)),
    moreUsers, result)
  void listUsers()
  return { element, open, stop: () => clearTimeout(timer) }
}
