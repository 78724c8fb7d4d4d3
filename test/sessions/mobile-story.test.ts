import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { PASSWORD } from '../helpers/http.js'
import { sleep } from '../helpers/wait.js'

// The whole story of docs/mobile.md, over real HTTP as an app's HTTP client sends it: a phone app
// that ops keep signed in for 30 days, told why when its session ends, with the device label a real
// Android build sends, paging its device list while another device is in use.

const LABEL = 'MyApp 1.2.3+45 (Android 14, Pixel 8)'

t.test('a phone app under a 30-day window, over real HTTP', async (t) => {
  // A 2 s global window, so that "longer than the global TTL" takes seconds.
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '2' })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const http = async (method: string, path: string, { token, audience, body, headers = {} }: { token?: string, audience?: string, body?: object, headers?: Record<string, string> } = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token && { authorization: `Token token=${token}` }),
        ...(audience && { 'jwt-aud': audience }),
        ...(body && { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body && { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null }
  }

  await ctx.app.sessionTtl.setClient('ios', 30 * 86400, null, 'ops')
  const email = ctx.email()
  t.equal((await http('POST', '/users', { body: { email, password: PASSWORD } })).status, 201)
  const signIn = (password: string, audience?: string, label?: string) =>
    http('POST', '/sessions', { audience, body: { email, password }, headers: label ? { 'x-client': label } : {} })

  const phone = await signIn(PASSWORD, 'ios', LABEL)
  t.equal(phone.status, 201, JSON.stringify(phone.body))
  t.equal(phone.body.idle_timeout_seconds, 30 * 86400, 'the app learns its window at login')

  await sleep(2600)
  const me = await http('GET', '/me', { token: phone.body.token, audience: 'ios' })
  t.equal(me.status, 200, 'idle longer than the global TTL, and still signed in')

  // The password is changed on the web.
  const web = await signIn(PASSWORD)
  const changed = await http('PUT', '/me/password', { token: web.body.token, body: { current_password: PASSWORD, new_password: 'another long passphrase' } })
  t.ok(changed.status < 300, `changed on the web (${changed.status})`)
  t.same(await http('GET', '/me', { token: phone.body.token, audience: 'ios' }), {
    status: 401,
    body: { error: 'session_expired', message: 'The session has expired or was ended; log in again', reason: 'revoked', cause: 'password_changed' },
  }, 'the phone is told its password was changed elsewhere')

  // Signed in again; ops then shorten the window to 2 s, and the phone stays idle past it.
  const again = await signIn('another long passphrase', 'ios', LABEL)
  t.equal(again.status, 201)
  await ctx.app.sessionTtl.setClient('ios', 2, null, 'ops')
  await sleep(2600)
  t.match(await http('GET', '/me', { token: again.body.token, audience: 'ios' }), { status: 401, body: { error: 'session_expired', reason: 'idle' } })

  // Back to 30 days; the device list, paged while a tablet keeps using its session.
  await ctx.app.sessionTtl.setClient('ios', 30 * 86400, null, 'ops')
  const current = await signIn('another long passphrase', 'ios', LABEL)
  const tablet = await signIn('another long passphrase', 'ios', 'Galaxy Tab S9+')
  for (let i = 0; i < 3; i++) await signIn('another long passphrase', 'ios', `Device ${i}`)
  const live = [current, tablet].map((s) => s.body.token as string)
  const ids: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const page: { status: number, body: { sessions: { id: string, current: boolean, client: string }[], next_cursor: string | null } } =
      await http('GET', `/sessions?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: live[0], audience: 'ios' })
    t.equal(page.status, 200)
    if (pages === 0) t.match(page.body.sessions[0], { current: true, client: LABEL }, 'the current session first, with its label as the phone sent it')
    ids.push(...page.body.sessions.map((s) => s.id))
    t.ok(page.body.sessions.length > 0, 'no empty page')
    // The tablet is used between two pages.
    t.equal((await http('GET', '/me', { token: live[1], audience: 'ios' })).status, 200)
    cursor = page.body.next_cursor
    pages++
  } while (cursor !== null && pages < 10)
  // The five signed in since (the web session went idle under the 2 s global window meanwhile).
  t.equal(ids.length, 5, 'every live session listed')
  t.equal(new Set(ids).size, 5, 'and each once')
  t.equal(pages, 3, 'pages of 2, 2 and 1, the last without a cursor')
})
