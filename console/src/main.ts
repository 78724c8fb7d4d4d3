import 'uplot/dist/uPlot.min.css'
import './style.css'
import { activityPanel } from './activity.js'
import { api, ApiError, type User, whenSignedOut } from './api.js'
import { byId, dismissConfirmation, h, hideNotice, keepRelativeTimesFresh, notify, setSignedOut } from './dom.js'
import { present } from './presence.js'
import { sessionsNowPanel } from './sessions-now.js'
import { ttlPanel } from './ttl.js'
import { usersPanel } from './users.js'

/**
 * The ops console: sign in (the cookie transport), then, for admins, the TTL, users and their
 * sessions, and live activity. Everything it shows comes from the admin API, which checks every
 * request itself: hiding a button here protects nothing, refusing it there does.
 */
const view = byId('view')
let stopView: () => void = () => {}

function render (...children: HTMLElement[]): void {
  dismissConfirmation()
  stopView()
  stopView = () => {}
  view.replaceChildren(...children)
}

function signedInAs (user: User | null): void {
  byId('who').hidden = user === null
  byId('who-email').textContent = user ? `${user.email} (${user.role})` : ''
}

function showSignIn (message?: string): void {
  setSignedOut(true)
  signedInAs(null)
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'username', 'aria-label': 'Email' })
  const password = h('input', { type: 'password', name: 'password', required: true, autocomplete: 'current-password', 'aria-label': 'Password' })
  const error = h('p', { class: 'error', role: 'alert', hidden: message === undefined }, message ?? '')
  const form = h('form', {
    class: 'sign-in',
    on: {
      submit: async (event) => {
        event.preventDefault()
        try {
          const { user } = await api<{ user: User }>('POST', 'sessions', { email: email.value, password: password.value, transport: 'cookie', client: 'console' })
          hideNotice()
          void show(user)
        } catch (err) {
          const e = err as ApiError
          error.textContent = e.status === 429 ? `Too many attempts; try again in ${e.retryAfter ?? 'a few'} s.` : e.message
          error.hidden = false
          password.value = ''
        }
      },
    },
  },
  h('h2', {}, 'Sign in'),
  h('p', { class: 'muted' }, 'For Gatehouse administrators.'),
  h('label', {}, 'Email', email),
  h('label', {}, 'Password', password),
  error,
  h('button', { type: 'submit' }, 'Sign in'))
  render(form)
  email.focus()
}

/**
 * A non-admin's session is of no use here: it is ended at once, so that it does not stay alive in
 * this browser (a shared or borrowed one, often) for a TTL, unseen. Then they are told why.
 */
async function refuseNonAdmin (user: User): Promise<void> {
  let stillSignedIn: string | null = null
  try {
    await api('DELETE', 'sessions/current')
  } catch (err) {
    // Already gone (401) is what was wanted; anything else leaves the session alive, which they must know.
    if ((err as ApiError).status !== 401) stillSignedIn = (err as ApiError).message
  }
  setSignedOut(true)
  signedInAs(null)
  render(h('section', { class: 'refused', 'data-test': 'admins-only' },
    h('h2', {}, 'Admins only'),
    h('p', {}, `You signed in as ${user.email}, who is not an administrator. The console is for Gatehouse administrators only; ask one if you need access.`),
    stillSignedIn === null
      ? h('p', { class: 'muted' }, 'That session has been ended: this browser is not signed in.')
      : h('p', { class: 'error', role: 'alert' }, `Gatehouse could not end that session (${stillSignedIn}); it ends by itself when its TTL runs out.`),
    h('button', { type: 'button', on: { click: () => showSignIn() } }, 'Sign in as someone else')))
}

async function show (user: User): Promise<void> {
  if (user.role !== 'admin') return refuseNonAdmin(user)
  setSignedOut(false)
  signedInAs(user)
  const users = usersPanel(user)
  const openUser = (id: string) => { void users.open(id) }
  const now = sessionsNowPanel(openUser, present)
  const activity = activityPanel(openUser)
  render(now.element, users.element, activity.element, ttlPanel())
  const stopTimes = keepRelativeTimesFresh()
  stopView = () => {
    now.stop()
    activity.stop()
    stopTimes()
  }
}

async function signOut (): Promise<void> {
  try {
    await api('DELETE', 'sessions/current')
  } catch (err) {
    // Already signed out (401) is what was wanted; anything else is worth saying.
    if ((err as ApiError).status !== 401) return notify(`Could not sign out: ${(err as ApiError).message}`, 'error')
  }
  hideNotice()
  showSignIn()
}

async function start (): Promise<void> {
  try {
    await show((await api<{ user: User }>('GET', 'me')).user)
  } catch (err) {
    const e = err as ApiError
    // No session yet: the sign-in form, without a message.
    if (e.status === 401) return showSignIn()
    render(h('section', { class: 'refused' }, h('h2', {}, 'Gatehouse is not answering'), h('p', {}, e.message),
      h('button', { type: 'button', on: { click: () => { void start() } } }, 'Try again')))
  }
}

whenSignedOut(() => showSignIn('Your session has ended; sign in again.'))
byId('sign-out').addEventListener('click', () => { void signOut() })
byId('notice-close').addEventListener('click', hideNotice)
void start()
