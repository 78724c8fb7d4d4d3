import { mkdirSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import type { Locator, Page } from 'playwright-core'
import t from 'tap'
import { createActivity } from '../../src/telemetry/activity.js'
import { addSessions, buildTestApp, storeOf, type TestContext } from '../helpers/app.js'
import { countSessions } from '../../src/sessions/store.js'
import { sql } from '../helpers/db.js'
import { call, claimsOf, login, me, newAdmin, PASSWORD, signUp } from '../helpers/http.js'
import { launchBrowser, pageProblems, waitForCount } from './browser.js'

// The ops console in a real browser (headless Chromium, driven by playwright-core), against the
// real service on a real port, Redis and PostgreSQL. The screenshots in docs/console.md are taken
// here, so they show the console as it is.

const SCREENSHOTS = new URL('../../docs/console/', import.meta.url)
mkdirSync(SCREENSHOTS, { recursive: true })
/**
 * The 59 minutes before this one, filled by the real recorder (src/activity) on a clock moved back,
 * so the charts in the docs' screenshots have an hour to show. The current minute is left to
 * what the test itself does, which is what it checks.
 */
async function anHourOfTraffic (ctx: TestContext): Promise<void> {
  const start = Date.now() - 59 * 60_000
  let clock = start
  let live = 0
  const recorder = createActivity(ctx.redis, { keyPrefix: ctx.config.redisKeyPrefix, countSessions: async () => live, log: { warn: () => {} }, now: () => clock, flushIntervalMs: 3_600_000 })
  for (let minute = 0; minute < 59; minute++) {
    clock = start + minute * 60_000
    const logins = Math.round(14 + 9 * Math.sin(minute / 7) + (minute % 5))
    const failed = Math.round(2 + 2 * Math.sin(minute / 3)) + (minute >= 38 && minute <= 42 ? 25 : 0)
    const throttled = minute >= 39 && minute <= 42 ? 12 + minute - 39 : 0
    // A busy half hour that has died down to the test's own few sessions.
    live = 4 + Math.round(60 * Math.sin(Math.PI * minute / 58) ** 2)
    for (let i = 0; i < logins; i++) recorder.count('logins')
    for (let i = 0; i < failed; i++) recorder.count('failed_logins')
    for (let i = 0; i < throttled; i++) recorder.count('throttled')
    await recorder.lastHour()
  }
  await recorder.close()
}

/** Types part of the email into the users' search (the list narrows as one types) and opens the user it finds. */
async function findUser (page: Page, email: string): Promise<void> {
  await page.getByLabel('Search users by email').fill(email)
  await page.locator('[data-test="user-list"] tr', { hasText: email.trim().toLowerCase() }).getByRole('button').click()
  await page.getByRole('heading', { name: email.trim().toLowerCase() }).waitFor()
}

/** An attribute of every element the locator matches, in order. */
const attributes = async (locator: Locator, name: string) => Promise.all((await locator.all()).map((element) => element.getAttribute(name)))

const screenshot = (page: Page, name: string) => page.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS).pathname, fullPage: true })

t.test('an admin runs the console: TTL, users and sessions, live events; a non-admin is refused', async (t) => {
  // The production cookies (__Host-, Secure): Chromium takes Secure cookies from http://127.0.0.1.
  const ctx = await buildTestApp(t)
  const { app } = ctx
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const admin = await newAdmin(ctx)
  const userEmail = ctx.email()
  const user = await signUp(app, userEmail)
  const phone = await app.inject({ method: 'POST', url: '/sessions', headers: { 'user-agent': 'GatehouseApp/3.1 (iPhone)' }, payload: { email: userEmail, password: PASSWORD, client: 'ios' } })
  const laptop = await app.inject({ method: 'POST', url: '/sessions', headers: { 'user-agent': 'Mozilla/5.0 (Macintosh)' }, payload: { email: userEmail, password: PASSWORD, client: 'web' } })
  const phoneToken: string = phone.json().token
  const laptopToken: string = laptop.json().token

  await anHourOfTraffic(ctx)

  const browser = await launchBrowser(t)
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage()
  const problems = pageProblems(page)
  const notice = page.locator('#notice')
  const confirm = async (label: string) => {
    await page.locator('#confirm-button', { hasText: label }).click()
  }

  await t.test('signing in', async (t) => {
    await page.goto(`${base}/console`)
    await page.getByLabel('Email').waitFor()
    await screenshot(page, 'sign-in')
    // A wrong password: the API's generic answer, and no session.
    await page.getByLabel('Email').fill(admin.email)
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByText('Email or password is incorrect').waitFor()
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Session TTL' }).waitFor()
    t.match(await page.locator('#who-email').textContent(), `${admin.email} (admin)`)
    const cookies = await page.context().cookies()
    const session = cookies.find((c) => c.name === '__Host-gatehouse_session')
    t.ok(session?.httpOnly, 'the session cookie is HttpOnly')
    t.notOk(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie.includes('gatehouse_session')), 'page scripts cannot read the token')
  })

  await t.test('the TTL: shown, changed in units, refused when out of range, reset; the API applies it', async (t) => {
    const value = page.locator('[data-test="ttl-value"]')
    const source = page.locator('[data-test="ttl-source"]')
    const showing = (text: string) => value.filter({ hasText: text }).waitFor()
    await showing('20 min (1200 s)')
    t.match(await source.textContent(), /^The default \(SESSION_TTL_SECONDS\)\. Most: 30 d \(SESSION_MAX_AGE_SECONDS\)\.$/)
    t.equal(await page.getByLabel('New TTL').getAttribute('placeholder'), '20m', 'typed as the CLI takes it')

    // What is not a duration at all is refused here, and nothing is sent.
    const sent: string[] = []
    const record = (request: { method(): string, url(): string }) => { if (request.method() !== 'GET') sent.push(`${request.method()} ${request.url()}`) }
    page.on('request', record)
    await page.getByLabel('New TTL').fill('ten minutes')
    await page.getByRole('button', { name: 'Set TTL' }).click()
    await notice.filter({ hasText: 'Enter a duration such as 15m, 2h or 900 (seconds)' }).waitFor()
    page.off('request', record)
    t.same(sent, [], 'nothing is sent')
    t.equal(await page.locator('#confirm[open]').count(), 0, 'and nothing is asked')
    // An error stays until it is dismissed.
    await page.getByRole('button', { name: 'Dismiss' }).click()
    await notice.waitFor({ state: 'hidden' })

    await page.getByLabel('New TTL').fill('10m')
    await page.getByRole('button', { name: 'Set TTL' }).click()
    t.match(await page.locator('#confirm-message').textContent(), /^Set the session TTL to 10 min on every instance\? Sessions idle for longer than that end/, 'a shorter TTL says what it does before it is set, in units')
    await confirm('Set TTL')
    await showing('10 min (600 s)')
    t.match(await source.textContent(), `Set by admin ${admin.email} (${admin.user.id}) just now; the default is 20 min. Most: 30 d`)
    const setAt = source.locator('time[data-relative]')
    t.match(await setAt.getAttribute('title'), /\d{4}.*\d\d:\d\d:\d\d.*(UTC|GMT)/, 'the exact time, with its zone, on hover')
    t.ok(Math.abs(Date.parse(String(await setAt.getAttribute('datetime'))) - Date.now()) < 60_000, 'and for machines')
    await notice.filter({ hasText: 'Session TTL is now 10 min, set by you.' }).waitFor()
    const applied = (await call(app, 'GET', '/admin/settings/session-ttl', admin.token)).json()
    t.match(applied, { ttl_seconds: 600, source: 'override', set_by: `admin ${admin.email} (${admin.user.id})` }, 'the same change, with its set_by, as PUT /admin/settings/session-ttl makes')
    t.equal((await me(app, `Token token=${phoneToken}`)).statusCode, 200)
    t.ok(await ctx.redis.pttl(`${ctx.config.redisKeyPrefix}sess:{${user.id}}:${JSON.parse(Buffer.from(phoneToken.split('.')[1]!, 'base64url').toString()).jti}`) <= 600_000, 'the next request extends a session by the new TTL')

    await page.getByLabel('New TTL').fill('31d')
    await page.getByRole('button', { name: 'Set TTL' }).click()
    t.match(await page.locator('#confirm-message').textContent(), /^Set the session TTL to 31 d on every instance\?$/)
    await confirm('Set TTL')
    await notice.filter({ hasText: 'The TTL was not changed' }).waitFor()
    t.match(await notice.textContent(), 'must not exceed the absolute session lifetime, SESSION_MAX_AGE_SECONDS (30d (2592000 s))', 'the API\'s own reason is shown')
    t.equal(await value.textContent(), '10 min (600 s)', 'and nothing changed')

    await page.getByRole('button', { name: 'Reset to default' }).click()
    t.equal(await page.locator('#confirm-message').textContent(), 'Reset the session TTL to the default, 20 min?')
    await confirm('Reset TTL')
    await showing('20 min (1200 s)')
    // A done notice goes by itself (after about 8 s); the error before it was replaced by it.
    await notice.filter({ hasText: 'Session TTL is now 20 min, the default.' }).waitFor()
    await notice.waitFor({ state: 'hidden', timeout: 12_000 })
    t.match((await call(app, 'GET', '/admin/settings/session-ttl', admin.token)).json(), { ttl_seconds: 1200, source: 'default' })
  })

  await t.test('client policies: set, refused out of range, listed, a client\'s sessions ended, reset; the API applies them', async (t) => {
    const policies = page.locator('[data-test="client-policies"]')
    await policies.locator('[data-test="no-client-policies"]').waitFor()
    const setPolicy = async (client: string, idle: string, maxAge = '') => {
      await page.getByLabel('Client (its JWT-Aud)').fill(client)
      await page.getByLabel('Idle window').fill(idle)
      await page.getByLabel('Maximum age (optional)').fill(maxAge)
      await page.getByRole('button', { name: 'Set client policy' }).click()
    }

    await setPolicy('ios', '14d', '21d')
    t.match(await page.locator('#confirm-message').textContent(), /client ios an idle window of 14 d \(1209600 s\) and a maximum age of 21 d \(1814400 s\)\?.*stolen device's token/, 'what a longer window costs is said before it is set')
    await confirm('Set policy')
    const ios = page.locator('tr[data-client="ios"]')
    await ios.waitFor()
    t.match(await ios.textContent(), new RegExp(`^ios14 d \\(1209600 s\\)21 d \\(1814400 s\\)admin ${admin.email}`))
    t.match((await call(app, 'GET', '/admin/settings/session-ttl', admin.token)).json().clients, [{ client: 'ios', idle_timeout_seconds: 1209600, max_age_seconds: 1814400, set_by: `admin ${admin.email} (${admin.user.id})` }], 'the same change PUT /admin/settings/clients/ios makes')
    const appEmail = ctx.email()
    await signUp(app, appEmail)
    const bound = await app.inject({ method: 'POST', url: '/sessions', headers: { 'jwt-aud': 'ios' }, payload: { email: appEmail, password: PASSWORD } })
    t.equal(bound.json().idle_timeout_seconds, 1209600, 'an app logging in as ios gets the window')

    await setPolicy('web', '31d')
    await confirm('Set policy')
    await notice.filter({ hasText: 'The client policy was not changed' }).waitFor()
    t.match(await notice.textContent(), /must not exceed .*SESSION_MAX_AGE_SECONDS/, 'the API\'s own reason is shown')
    const sent: string[] = []
    const record = (request: { method(): string, url(): string }) => { if (request.method() !== 'GET') sent.push(`${request.method()} ${request.url()}`) }
    page.on('request', record)
    await setPolicy('my app', '1h')
    await notice.filter({ hasText: 'A client is named by the audience' }).waitFor()
    await setPolicy('web', 'an hour')
    await notice.filter({ hasText: 'Enter durations as seconds' }).waitFor()
    page.off('request', record)
    t.same(sent, [], 'what cannot be a client or a duration is not sent')
    t.equal(await page.locator('tr[data-client="web"]').count(), 0)

    // Names may hold / and :; each goes to the API URL-encoded, and is reset from its own row.
    await setPolicy('urn:app/ios-beta', '15m')
    await confirm('Set policy')
    const beta = page.locator('tr[data-client="urn:app/ios-beta"]')
    await beta.waitFor()
    t.match(await beta.textContent(), /15 min \(900 s\)the most \(30 d\)/)
    await beta.getByRole('button', { name: 'Reset' }).click()
    t.match(await page.locator('#confirm-message').textContent(), 'Put the client urn:app/ios-beta back under the global policy (idle 20 min)?')
    await confirm('Reset policy')
    await notice.filter({ hasText: 'The client urn:app/ios-beta is back under the global policy.' }).waitFor()
    await beta.waitFor({ state: 'detached' })
    t.same((await call(app, 'GET', '/admin/settings/session-ttl', admin.token)).json().clients.map((c: { client: string }) => c.client), ['ios'])

    await ios.getByRole('button', { name: 'End sessions' }).click()
    t.match(await page.locator('#confirm-message').textContent(), 'End every session of the client ios, for every user, now?')
    await confirm('End sessions')
    await notice.filter({ hasText: 'Every session of the client ios from before' }).waitFor()
    await ios.locator('[data-test="client-ended"]').waitFor()
    const ended = await app.inject({ url: '/me', headers: { authorization: `Token token=${bound.json().token}`, 'jwt-aud': 'ios' } })
    t.match(ended.json(), { error: 'session_expired', reason: 'revoked', cause: 'client_ended' }, 'the ios session is over')
    t.equal((await me(app, `Token token=${laptopToken}`)).statusCode, 200, 'an unbound session goes on')
    // ios keeps its policy for the screenshots (docs/console.md).
  })

  await t.test('a user found by email; one session ended, then the rest; the role changed', async (t) => {
    await findUser(page, userEmail.toUpperCase())
    await page.getByRole('heading', { name: userEmail }).waitFor()
    const rows = page.locator('[data-test="user-result"] tr[data-session]')
    t.equal(await rows.count(), 2, 'both live sessions are listed')
    t.match(await page.locator('[data-test="user-result"] table').textContent(), /ios.*GatehouseApp\/3\.1 \(iPhone\)/s)
    await screenshot(page, 'user')

    const phoneRow = page.locator('[data-test="user-result"] tr', { hasText: 'GatehouseApp/3.1' })
    await phoneRow.getByRole('button', { name: 'End' }).click()
    t.match(await page.locator('#confirm-message').textContent(), `End this session of ${userEmail}: ios`)
    await confirm('End session')
    await notice.filter({ hasText: 'Ended the session ios' }).waitFor()
    await waitForCount(rows, (n) => n === 1)
    t.equal((await me(app, `Token token=${phoneToken}`)).statusCode, 401, 'the ended session\'s token is refused')
    t.equal((await me(app, `Token token=${laptopToken}`)).statusCode, 200, 'the other one still works')

    // Cancel does nothing: no request at all.
    const sent: string[] = []
    const record = (request: { method(): string, url(): string }) => { if (request.method() !== 'GET') sent.push(`${request.method()} ${request.url()}`) }
    page.on('request', record)
    await page.getByRole('button', { name: 'End all sessions' }).click()
    await page.locator('#confirm').getByRole('button', { name: 'Cancel' }).click()
    await page.locator('#confirm').waitFor({ state: 'hidden' })
    await findUser(page, userEmail)
    await page.getByRole('heading', { name: userEmail }).waitFor()
    page.off('request', record)
    t.same(sent, [], 'a cancelled action sends nothing')
    t.equal((await me(app, `Token token=${laptopToken}`)).statusCode, 200)

    await page.getByRole('button', { name: 'End all sessions' }).click()
    await confirm('End all sessions')
    await notice.filter({ hasText: `Ended 1 session of ${userEmail}` }).waitFor()
    t.equal((await me(app, `Token token=${laptopToken}`)).statusCode, 401)
    await page.locator('[data-test="no-sessions"]').waitFor()

    await page.getByLabel('Role').selectOption('admin')
    await page.getByRole('button', { name: 'Change role' }).click()
    await confirm('Change role')
    await notice.filter({ hasText: `${userEmail} is now an admin` }).waitFor()
    t.same(await sql('SELECT role FROM users WHERE id = $1', [user.id]), [{ role: 'admin' }])
    await page.getByLabel('Role').selectOption('user')
    await page.getByRole('button', { name: 'Change role' }).click()
    await confirm('Change role')
    await notice.filter({ hasText: `${userEmail} is now a user` }).waitFor()
    t.same(await sql('SELECT role FROM users WHERE id = $1', [user.id]), [{ role: 'user' }])
  })

  await t.test('session events appear as they happen; the charts are drawn', async (t) => {
    const events = page.locator('[data-test="events"] tr')
    await page.locator('[data-test="events-status"]', { hasText: 'Live' }).waitFor()
    // "Live" shows when the stream opens; its backlog follows in the next messages.
    await events.filter({ hasText: 'admin' }).first().waitFor()
    t.ok(await events.filter({ hasText: 'admin' }).count() >= 1, 'the admin\'s revocations from before are in the backlog')
    const before = await events.count()
    t.equal((await app.inject({ method: 'POST', url: '/sessions', payload: { email: userEmail, password: PASSWORD, client: 'web' } })).statusCode, 201)
    await waitForCount(events, (n) => n > before)
    t.equal(await events.first().getAttribute('data-type'), 'created')
    t.match(await events.first().textContent(), new RegExp(`signed in.*${userEmail}.*web`, 's'), 'a login, live, with its user\'s email and client')
    t.equal(await page.locator('.charts canvas').count(), 3, 'three charts')
    await screenshot(page, 'console')

    // A user id in the list opens that user.
    await events.first().getByRole('button', { name: userEmail }).click()
    await page.getByRole('heading', { name: userEmail }).waitFor()
  })

  await t.test('an account deleted from the console: sessions ended, the row gone, the event shown', async (t) => {
    const doomedEmail = ctx.email()
    const doomed = await signUp(app, doomedEmail)
    const { token } = await login(app, doomedEmail)
    await findUser(page, doomedEmail)
    await page.getByRole('heading', { name: doomedEmail }).waitFor()
    t.match(await page.locator('.user-card').textContent(), /email not confirmed/, 'the verified state is shown')
    await page.getByRole('button', { name: 'Delete account' }).click()
    t.match(await page.locator('#confirm-message').textContent(), `Delete the account of ${doomedEmail}?`)
    await confirm('Delete account')
    await notice.filter({ hasText: `Deleted the account of ${doomedEmail}; 1 session ended.` }).waitFor()
    t.same(await sql('SELECT id FROM users WHERE id = $1', [doomed.id]), [], 'the row is gone')
    t.equal((await me(app, `Token token=${token}`)).statusCode, 401, 'and its session')
    // Named by the email the console still remembers (its cache keeps one a minute), or as a deleted user.
    await page.locator('[data-test="events"] tr[data-type="user-deleted"]', { hasText: new RegExp(`${doomedEmail.replace(/\./g, '\\.')}|deleted user`) }).waitFor()
    t.pass('the live events show the deletion')

    await findUser(page, admin.email)
    await page.getByRole('heading', { name: admin.email }).waitFor()
    t.ok(await page.getByRole('button', { name: 'Delete account' }).isDisabled(), 'not one\'s own account: that is DELETE /me, with the password')
  })

  await t.test('who is signed in now: the count made just now, and the sessions used last, across users', async (t) => {
    const panel = page.locator('#now')
    const headline = panel.locator('[data-test="live-count"]')
    // The server counts at most every 15 s (the gauge's SCAN), so a count made before this test's
    // last changes may still be shown: then the next one, made once it is 15 s old, is checked.
    let shown = ''
    let live = -1
    for (let attempt = 0; attempt < 2; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 15_500))
      await page.reload()
      await headline.filter({ hasText: 'live session' }).waitFor()
      shown = String(await headline.textContent())
      live = await countSessions(ctx.redis, ctx.config.redisKeyPrefix)
      if (shown === `${live} live session${live === 1 ? '' : 's'}`) break
    }
    t.equal(shown, `${live} live session${live === 1 ? '' : 's'}`, 'the headline is the number of live sessions')
    t.match(await panel.locator('[data-test="live-counted"]').textContent(), /Counted (just now|\d+ s ago)/, 'with its age')
    // The user signs in on a tablet and uses it; the list shows it when the page asks again.
    const { token: tablet } = (await app.inject({ method: 'POST', url: '/sessions', payload: { email: userEmail, password: PASSWORD, client: 'tablet' } })).json()
    t.equal((await me(app, `Token token=${tablet}`)).statusCode, 200)
    await page.reload()
    const rows = panel.locator('[data-test="recent-sessions"] tr')
    await rows.first().waitFor()
    const order = await attributes(rows, 'data-recent-session')
    t.ok(order.indexOf(String(claimsOf(tablet).jti)) >= 0 && order.indexOf(String(claimsOf(tablet).jti)) <= 1, 'the tablet just used is at the top (under this console\'s own)')
    t.match(await panel.textContent(), userEmail, 'shown by email')
    await panel.locator(`tr[data-recent-session="${String(claimsOf(tablet).jti)}"]`).getByRole('button', { name: userEmail }).click()
    await page.getByRole('heading', { name: userEmail }).waitFor()
    t.pass('an email opens that user')
  })

  await t.test('users: listed newest first, searched by part of the email as one types, in any case', async (t) => {
    const search = page.getByLabel('Search users by email')
    const list = page.locator('[data-test="user-list"] tr')
    const marker = `find${Date.now().toString(36)}`
    const found = []
    for (const name of ['ann', 'bob', 'cy']) found.push(await signUp(app, `${name}.${marker}@${ctx.email().split('@')[1]}`))
    await search.fill(marker.toUpperCase())
    // The list shows every user until the search (250 ms after the last key) has its answer.
    await waitForCount(list.filter({ hasText: marker }), (n) => n === 3)
    await waitForCount(list, (n) => n === 3)
    t.same(await attributes(list, 'data-user'), found.map((user) => user.id).reverse(), 'the three, newest first')
    await search.fill(`bob.${marker}`)
    await waitForCount(list.filter({ hasText: `ann.${marker}` }), (n) => n === 0)
    await waitForCount(list, (n) => n === 1)
    t.same((await list.first().locator('td').allTextContents()).slice(1, 4), ['user', 'no', '0'], 'role, not verified, no live session')
    await search.fill(`${marker}zz`)
    await page.locator('[data-test="user-list-note"]', { hasText: 'No user\'s email contains' }).waitFor()
    await findUser(page, userEmail.split('@')[0]!.slice(2))
    t.equal(await search.inputValue(), userEmail.split('@')[0]!.slice(2), 'the search box keeps what was typed')
    const row = page.locator(`[data-test="user-list"] tr[data-user="${user.id}"]`)
    t.same((await row.locator('td').allTextContents()).slice(1, 4), ['user', 'no', '2'], 'the user: role, not verified, two live sessions (the web and tablet sign-ins above)')
  })

  await t.test('events: email and client on each row; filters; older events; many sessions ended together are one row', async (t) => {
    const events = page.locator('[data-test="events"] tr')
    await page.reload()
    await page.locator('[data-test="events-status"]', { hasText: 'Live' }).waitFor()
    await events.first().waitFor()
    // Many sessions of one user, ended together.
    const many = await signUp(app, ctx.email())
    const store = await storeOf(t, ctx)
    // SESSION_MAX_PER_USER (100) is as many as one user keeps.
    await addSessions(store, many, 100)
    await waitForCount(events.filter({ hasText: many.email }), (n) => n >= 1, 30_000)
    t.equal((await call(app, 'DELETE', `/admin/users/${many.id}/sessions`, admin.token)).json().revoked, 100)
    const summary = events.filter({ hasText: many.email }).filter({ hasText: 'admin' })
    await summary.locator('[data-test="event-count"]', { hasText: '×100' }).waitFor({ timeout: 30_000 })
    t.equal(await summary.count(), 1, 'one row for the 100 sessions')

    await page.getByLabel('Event').selectOption('revoked')
    await page.locator('[data-test="events-status"]', { hasText: 'Live' }).waitFor()
    await events.first().waitFor()
    t.same([...new Set(await attributes(events, 'data-type'))], ['revoked'], 'only ended sessions')
    const shown = await events.count()
    await page.locator('[data-test="older-events"]').click()
    await waitForCount(events, (n) => n > shown).catch(() => {})
    const note = page.locator('[data-test="older-note"]')
    t.ok(await events.count() > shown || await note.isVisible(), 'older events are added, or the console says there are none')
    await page.getByLabel('Event').selectOption('')
    await page.locator('[data-test="events-status"]', { hasText: 'Live' }).waitFor()
  })

  await t.test('what the page sends without the CSRF token is refused', async (t) => {
    const answer = await page.evaluate(async () => {
      const response = await fetch('admin/settings/session-ttl', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"ttl_seconds":60}' })
      return { status: response.status, body: await response.json() }
    })
    t.match(answer, { status: 403, body: { error: 'csrf_rejected' } })
    t.match((await call(app, 'GET', '/admin/settings/session-ttl', admin.token)).json(), { ttl_seconds: 1200 })
  })

  await t.test('a hidden tab holds no event stream; back in view, it catches up', async (t) => {
    const status = page.locator('[data-test="events-status"]')
    const setVisibility = (state: 'hidden' | 'visible') => page.evaluate((state) => {
      const doc = (globalThis as unknown as { document: { dispatchEvent(e: unknown): void } }).document
      Object.defineProperty(doc, 'visibilityState', { configurable: true, get: () => state })
      doc.dispatchEvent(new (globalThis as unknown as { Event: new (type: string) => unknown }).Event('visibilitychange'))
    }, state)
    const streams: string[] = []
    const record = (request: { url(): string }) => { if (request.url().endsWith('/admin/events')) streams.push(request.url()) }
    page.on('request', record)
    await setVisibility('hidden')
    await status.filter({ hasText: 'Paused while this tab is hidden' }).waitFor()
    const rows = page.locator('[data-test="events"] tr')
    const shown = await rows.count()
    const { token: meanwhile } = await login(app, userEmail)
    await new Promise((resolve) => setTimeout(resolve, 2000))
    t.equal(await rows.count(), shown, 'nothing arrives while hidden')
    t.same(streams, [], 'no stream while hidden')
    await setVisibility('visible')
    await status.filter({ hasText: 'Live' }).waitFor()
    page.off('request', record)
    t.equal(streams.length, 1, 'one new stream once visible again')
    const newest = String(claimsOf(meanwhile).jti).slice(0, 8)
    await rows.filter({ hasText: newest }).waitFor()
    t.pass('it opens with the latest events, the login made meanwhile among them')
  })

  await t.test('signing out ends the console\'s session', async (t) => {
    const cookie = (await page.context().cookies()).find((c) => c.name === '__Host-gatehouse_session')!.value
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('heading', { name: 'Sign in' }).waitFor()
    t.equal((await me(app, `Token token=${cookie}`)).statusCode, 401)
  })

  await t.test('a session ended elsewhere takes the console back to the sign-in form', async (t) => {
    await page.getByLabel('Email').fill(admin.email)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('[data-test="events-status"]', { hasText: 'Live' }).waitFor()
    const cookie = (await page.context().cookies()).find((c) => c.name === '__Host-gatehouse_session')!.value
    // Another admin ends it (or a password change, a demotion...): the page sees it go by in the events.
    t.equal((await call(app, 'DELETE', `/admin/users/${admin.user.id}/sessions/${claimsOf(cookie).jti}`, admin.token)).statusCode, 204)
    await page.getByText('Your session has ended; sign in again.').waitFor({ timeout: 15_000 })
    t.equal(await page.locator('#notice:visible').count(), 0, 'no stale error from the page it left')
  })

  const sessionCookie = (setCookie: string | null) => /__Host-gatehouse_session=([^;]+)/.exec(setCookie ?? '')?.[1]

  await t.test('a non-admin who signs in sees "admins only", and their session is ended at once', async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 600 } })
    const other = await context.newPage()
    const otherProblems = pageProblems(other)
    await other.goto(`${base}/console`)
    await other.getByLabel('Email').fill(userEmail)
    await other.getByLabel('Password').fill(PASSWORD)
    const signedIn = other.waitForResponse((response) => response.request().method() === 'POST' && response.url().endsWith('/sessions'))
    await other.getByRole('button', { name: 'Sign in' }).click()
    const cookie = sessionCookie(await (await signedIn).headerValue('set-cookie'))
    t.ok(cookie, 'the sign-in made a session')
    await other.getByRole('heading', { name: 'Admins only' }).waitFor()
    t.match(await other.locator('[data-test="admins-only"]').textContent(), `You are signed in as ${userEmail}, who is not an administrator.`)
    await other.getByText('The session you just signed in with has been ended').waitFor()
    t.equal(await other.getByRole('heading', { name: 'Session TTL' }).count(), 0)
    t.equal(await other.locator('#users, #activity').count(), 0)
    t.ok(await other.locator('#who').isHidden(), 'nobody is shown as signed in')
    t.equal((await me(app, `Token token=${cookie}`)).statusCode, 401, 'the session no longer exists')
    t.equal((await context.cookies()).filter((c) => c.name === '__Host-gatehouse_session').length, 0, 'nor its cookie')
    await screenshot(other, 'admins-only')
    // The page hides nothing the API would give: the API refuses, and now there is no session to refuse.
    const status = await other.evaluate(async () => (await fetch('admin/settings/session-ttl')).status)
    t.equal(status, 401)
    await other.getByRole('button', { name: 'Sign in as someone else' }).click()
    await other.getByRole('heading', { name: 'Sign in' }).waitFor()
    t.same(otherProblems, [])
  })

  await t.test('a non-admin\'s session the page finds when it opens is left alone, with a way to sign it out', async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 600 } })
    // Signed in before, elsewhere in this browser (e.g. the web app, with a cookie shared across subdomains).
    const login = await context.request.post(`${base}/sessions`, { headers: { origin: base }, data: { email: userEmail, password: PASSWORD, transport: 'cookie', client: 'web' } })
    t.equal(login.status(), 201)
    const cookie = sessionCookie(login.headers()['set-cookie'] ?? null)
    t.equal((await me(app, `Token token=${cookie}`)).statusCode, 200, 'a live session')
    const other = await context.newPage()
    const otherProblems = pageProblems(other)
    await other.goto(`${base}/console`)
    await other.getByRole('heading', { name: 'Admins only' }).waitFor()
    await other.getByText('it was left as it is').waitFor()
    t.equal((await me(app, `Token token=${cookie}`)).statusCode, 200, 'opening the console (a link) logs no one out of their app')
    await other.locator('[data-test="admins-only"]').getByRole('button', { name: 'Sign out' }).click()
    await other.getByRole('heading', { name: 'Sign in' }).waitFor()
    t.equal((await me(app, `Token token=${cookie}`)).statusCode, 401, 'signed out when they asked')
    t.same(otherProblems, [])
  })

  await t.test('on a phone (390 px wide) nothing is wider than the screen', async (t) => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })
    const phonePage = await context.newPage()
    // The page's clock, so that the relative times' 30 s refresh can be seen without waiting for it.
    await phonePage.clock.install()
    const phoneProblems = pageProblems(phonePage)
    // What the page scrolls to sideways: the browser's own measure (the page's CSP does not apply to the test's evaluate).
    const pageWidth = () => phonePage.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)
    await phonePage.goto(`${base}/console`)
    await phonePage.getByLabel('Email').waitFor()
    t.ok(await pageWidth() <= 390, `the sign-in form fits (${await pageWidth()} px)`)
    await phonePage.getByLabel('Email').fill(admin.email)
    await phonePage.getByLabel('Password').fill(PASSWORD)
    await phonePage.getByRole('button', { name: 'Sign in' }).click()
    await phonePage.locator('[data-test="events-status"]', { hasText: 'Live' }).waitFor()
    await waitForCount(phonePage.locator('.charts canvas'), (n) => n === 3)
    await phonePage.locator('tr[data-client="ios"]').waitFor()
    await findUser(phonePage, userEmail)
    await phonePage.getByRole('heading', { name: userEmail }).waitFor()
    await phonePage.locator('[data-test="user-result"] tr[data-session]').first().waitFor()
    t.ok(await pageWidth() <= 390, `the console fits, a user's sessions and the charts shown (${await pageWidth()} px)`)
    await screenshot(phonePage, 'phone')
    await phonePage.getByRole('button', { name: 'End all sessions' }).click()
    await phonePage.locator('#confirm-message').waitFor()
    const dialog = await phonePage.locator('#confirm').boundingBox()
    t.ok(dialog !== null && dialog.x >= 0 && dialog.x + dialog.width <= 390, `the confirmation fits (${dialog?.x}, ${dialog?.width} px)`)
    t.ok(await pageWidth() <= 390, `and the page under it does not widen (${await pageWidth()} px)`)
    await phonePage.locator('#confirm').getByRole('button', { name: 'Cancel' }).click()

    // "just now" does not stay "just now": the relative times are rewritten as the page's clock goes on.
    const changed = phonePage.locator('tr[data-client="ios"] time[data-relative]')
    const before = await changed.textContent()
    await phonePage.clock.fastForward('05:00')
    await changed.filter({ hasText: /^[56] min ago$/ }).waitFor()
    t.pass(`the ios policy's change, "${before}", reads "${await changed.textContent()}" five minutes on`)
    t.same(phoneProblems, [])
  })

  t.same(problems, [], 'no page error and nothing blocked by the CSP')
})
