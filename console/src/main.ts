import 'uplot/dist/uPlot.min.css'
import './style.css'
import { activityPanel } from './activity.js'
import { api, ApiError, type User, whenSignedOut } from './api.js'
import { byId, dismissConfirmation, h, hideNotice, isSignedOut, keepRelativeTimesFresh, notify, setSignedOut } from './dom.js'
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
  const submit = h('button', { type: 'submit' }, 'Sign in')
  const form = h('form', {
    class: 'sign-in',
    on: {
      submit: async (event) => {
        event.preventDefault()
        // One sign-in at a time: a double submit would make a second session, left behind.
        if (submit.disabled) return
        submit.disabled = true
        try {
          const { user } = await api<{ user: User }>('POST', 'sessions', { email: email.value, password: password.value, transport: 'cookie', client: 'console' })
          hideNotice()
          void show(user, true)
        } catch (err) {
          const e = err as ApiError
          error.textContent = e.status === 429 ? `Too many attempts; try again in ${e.retryAfter ?? 'a few'} s.` : e.message
          error.hidden = false
          password.value = ''
        } finally {
          submit.disabled = false
        }
      },
    },
  },
  h('h2', {}, 'Sign in'),
  h('p', { class: 'muted' }, 'For Gatehouse administrators.'),
  h('label', {}, 'Email', email),
  h('label', {}, 'Password', password),
  error,
  submit)
  render(form)
  email.focus()
}

/**
 * A non-admin is refused. A session signed in here, with this form, is of no use: it is ended at
 * once, so that it does not stay alive in this browser (a shared or borrowed one, often) for a TTL,
 * unseen. A session the page found already there is left alone: with a cookie shared across
 * subdomains (COOKIE_DOMAIN) it can be the user's session of the web app, and a link to the console
 * must not be a way to log anyone out of it. They may sign it out here themselves.
 */
async function refuseNonAdmin (user: User, signedInHere: boolean): Promise<void> {
  let notEnded: string | null = null
  if (signedInHere) {
    try {
      await api('DELETE', 'sessions/current')
    } catch (err) {
      // Already gone (401) is what was wanted; anything else leaves the session alive, which they must know.
      if ((err as ApiError).status !== 401) notEnded = (err as ApiError).message
    }
  }
  setSignedOut(true)
  signedInAs(null)
  render(h('section', { class: 'refused', 'data-test': 'admins-only' },
    h('h2', {}, 'Admins only'),
    h('p', {}, `You are signed in as ${user.email}, who is not an administrator. The console is for Gatehouse administrators only; ask one if you need access.`),
    !signedInHere
      ? h('p', { class: 'muted' }, 'This browser holds that session from elsewhere (an app of yours): it was left as it is.')
      : notEnded === null
        ? h('p', { class: 'muted' }, 'The session you just signed in with has been ended: this browser is not signed in.')
        : h('p', { class: 'error', role: 'alert' }, `Gatehouse could not end that session (${notEnded}); it ends by itself when its TTL runs out.`),
    h('div', { class: 'row' },
      signedInHere ? null : h('button', { type: 'button', class: 'quiet', on: { click: () => { void signOut() } } }, 'Sign out'),
      h('button', { type: 'button', on: { click: () => showSignIn() } }, 'Sign in as someone else'))))
}

async function show (user: User, signedInHere: boolean): Promise<void> {
  if (user.role !== 'admin') return refuseNonAdmin(user, signedInHere)
  setSignedOut(false)
  signedInAs(user)
  const now = sessionsNowPanel((id) => { void users.open(id) })
  const users = usersPanel(user, now.refreshSoon)
  const activity = activityPanel((id) => { void users.open(id) }, now.refreshSoon)
  render(now.element, users.element, activity.element, ttlPanel())
  const stopTimes = keepRelativeTimesFresh()
  stopView = () => {
    now.stop()
    users.stop()
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
    await show((await api<{ user: User }>('GET', 'me')).user, false)
  } catch (err) {
    const e = err as ApiError
    // No session yet: the sign-in form, without a message.
    if (e.status === 401) return showSignIn()
    render(h('section', { class: 'refused' }, h('h2', {}, 'Gatehouse is not answering'), h('p', {}, e.message),
      h('button', { type: 'button', on: { click: () => { void start() } } }, 'Try again')))
  }
}

// Requests still under way when the console signed out find their session gone too: the form
// (and what is being typed in it) is already there.
whenSignedOut(() => { if (!isSignedOut()) showSignIn('Your session has ended; sign in again.') })
byId('sign-out').addEventListener('click', () => { void signOut() })
byId('notice-close').addEventListener('click', hideNotice)
void start()
