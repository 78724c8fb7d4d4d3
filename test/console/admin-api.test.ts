import type { AddressInfo } from 'node:net'
import t from 'tap'
import { SSE_LIMITS } from '../../src/http/sse.js'
import { buildTestApp, captureLogs, type TestContext } from '../helpers/app.js'
import { call, claimsOf, login, me, newAdmin, newSession, signUp } from '../helpers/http.js'
import { streamEvents } from '../helpers/redis.js'
import { eventually, sleep } from '../helpers/wait.js'
import { openEventStream, type SseMessage } from './event-stream.js'

// The admin API the ops console is built on: finding a user, ending one session, the charts'
// counts and the live event stream. The console calls nothing else that the API lacks.

const minutesAgo = (n: number) => Math.floor(Date.now() / 60_000) - n

/**
 * The live sessions are counted once a minute, by whichever instance gets there first: a test that
 * checks the count starts its apps with at least 15 s of the minute left, so that none of them
 * counts before the test has made its sessions (an app counts only from the minute after it
 * started). That test takes about a second, even at a load of 9 on two cores; waiting out the
 * second half of every minute, as before, cost 7.5 s on average and made it no surer.
 */
async function earlyInAMinute (): Promise<void> {
  const into = Date.now() % 60_000
  if (into > 45_000) await sleep(60_000 - into + 100)
}

t.test('GET /admin/users?email= finds a user by email, in any case; admins only; bad input is a 400', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const { user, email, token } = await newSession(ctx)
  const find = (query: string, as = admin.token) => call(ctx.app, 'GET', `/admin/users?${query}`, as)
  // The user as every answer of this route shows one: with their sessions at a glance (one login).
  const listed = { ...user, live_sessions: 1, last_seen_at: String }

  const found = (await find(`email=${encodeURIComponent(email)}`)).json()
  t.match(found, { users: [listed], next_cursor: null })
  t.equal(found.users.length, 1, 'one user')
  t.match((await find(`email=${encodeURIComponent(`  ${email.toUpperCase()} `)}`)).json(), { users: [listed] }, 'trimmed and compared in lower case, as at login')
  t.same((await find('email=nobody%40example.com')).json(), { users: [], next_cursor: null })
  t.same((await find(`email=${encodeURIComponent(email.slice(0, 5))}`)).json(), { users: [], next_cursor: null }, 'exact only: a prefix finds nobody (search is q=)')
  t.same((await find('email=%25')).json(), { users: [], next_cursor: null }, 'a LIKE wildcard is only a character')
  for (const [query, why] of [['email=', 'empty'], ['email=a%00b', 'a NUL'], ['email=a%0Ab', 'a newline'], [`email=${'a'.repeat(300)}`, 'too long'], [`email=${encodeURIComponent(email)}&x=1`, 'an unknown parameter']] as Array<[string, string]>) {
    const res = await find(query)
    t.equal(res.statusCode, 400, why)
    t.equal(res.json().error, 'bad_request', why)
  }
  t.equal((await find(`email=${encodeURIComponent(email)}`, token)).statusCode, 403, 'not for a user')
  t.equal((await ctx.app.inject({ url: `/admin/users?email=${encodeURIComponent(email)}` })).statusCode, 401, 'not without a session')
})

t.test('DELETE /admin/users/:id/sessions/:session_id ends exactly that session of that user', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const { user, email, token } = await newSession(ctx)
  const { token: second } = await login(ctx.app, email)
  const other = await newSession(ctx)
  const jti = (tok: string) => claimsOf(tok).jti as string
  const end = (userId: string, sessionId: string, as = admin.token) => call(ctx.app, 'DELETE', `/admin/users/${userId}/sessions/${encodeURIComponent(sessionId)}`, as)

  t.equal((await end(user.id, jti(other.token))).statusCode, 404, 'another user\'s session under this user\'s id: not found')
  t.equal((await me(ctx.app, `Token token=${other.token}`)).statusCode, 200, 'and it lives on')
  t.equal((await end(user.id.toUpperCase(), jti(token))).statusCode, 400, 'a user id in upper case is refused, not read as another key')
  t.equal((await end(user.id, jti(token), token)).statusCode, 403, 'a user may not use it, even on their own session')
  t.equal((await end(user.id, 'AAAAAAAAAAAAAAAAAAAAAA')).json().error, 'session_not_found')
  for (const bad of ['x', 'a'.repeat(65), `${jti(token)}\u0000`, `${jti(token)}\n`, jti(token).slice(0, 21), `${jti(token)}=`]) {
    const res = await end(user.id, bad)
    t.equal(res.statusCode, 400, `session id ${JSON.stringify(bad)}: not a session id Gatehouse makes`)
  }

  const huge = await ctx.app.inject({
    method: 'DELETE',
    url: `/admin/users/${user.id}/sessions/${jti(token)}`,
    headers: { authorization: `Token token=${admin.token}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ pad: 'x'.repeat(5 * 1024 * 1024) }),
  })
  t.equal(huge.statusCode, 413, 'a 5 MB body is refused before anything is done')
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'and the session lives on')

  const res = await end(user.id, jti(token))
  t.equal(res.statusCode, 204)
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401, 'the ended session\'s token is refused at once')
  t.equal((await me(ctx.app, `Token token=${second}`)).statusCode, 200, 'the user\'s other session is untouched')
  t.equal((await end(user.id, jti(token))).statusCode, 404, 'ending it twice: already gone')
  t.match((await streamEvents(ctx)).filter((e) => e.session_id === jti(token)).at(-1), { type: 'revoked', reason: 'admin', user_id: user.id })
})

t.test('GET /admin/activity: the last hour a minute at a time, counted across instances', async (t) => {
  await earlyInAMinute()
  const ctx = await buildTestApp(t, { LOGIN_MAX_FAILURES_PER_IP: '2' })
  // A second instance on the same Redis and prefix: the counts are the fleet's, not one process's.
  const second = await buildTestApp(t, { REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix })
  const admin = await newAdmin(ctx)
  const email = ctx.email()
  await signUp(ctx.app, email)
  const { token: userToken } = await login(second.app, email)
  await login(second.app, email)
  const failing = () => ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: 'wrong password' } })
  t.equal((await failing()).statusCode, 401)
  t.equal((await failing()).statusCode, 401)
  t.equal((await failing()).statusCode, 429, 'the third failure from this address is throttled')
  t.equal((await failing()).statusCode, 429)

  // Written every few seconds by each instance: the second's counts show once it has written them.
  await second.app.close()
  const res = await call(ctx.app, 'GET', '/admin/activity', admin.token)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const hour = res.json()
  t.equal(hour.minutes.length, 60)
  t.equal(hour.minutes.at(-1), minutesAgo(0) * 60, 'the last entry is the current minute')
  t.equal(hour.minutes[1] - hour.minutes[0], 60)
  const recent = (series: number[]) => series.slice(-2).reduce((a, b) => a + b, 0)
  t.equal(recent(hour.logins), 3, 'the admin\'s login and two on the other instance')
  t.equal(recent(hour.failed_logins), 2, 'wrong passwords; throttled attempts are not password checks')
  t.equal(recent(hour.throttled), 2, 'every 429')
  t.equal(hour.live_sessions.at(-1), 3, 'the live sessions, counted now')
  t.ok(hour.live_sessions.slice(0, -2).every((n: number | null) => n === null), 'no count where none was made')

  // A hand-edited field is not a number to draw.
  await ctx.redis.hset(`${ctx.config.redisKeyPrefix}activity:{activity}:${minutesAgo(5)}`, 'logins', 'lots', 'live_sessions', '-1')
  const edited = (await call(ctx.app, 'GET', '/admin/activity', admin.token)).json()
  t.equal(edited.logins.at(-6), 0)
  t.equal(edited.live_sessions.at(-6), null)
  t.ok(await ctx.redis.ttl(`${ctx.config.redisKeyPrefix}activity:{activity}:${minutesAgo(0)}`) > 3600, 'kept longer than the hour it is shown in')
  t.equal((await call(ctx.app, 'GET', '/admin/activity', userToken)).statusCode, 403, 'admins only')
  t.equal((await ctx.app.inject({ url: '/admin/activity' })).statusCode, 401)
})

t.test('GET /admin/activity: nothing counted is lost when the app closes', async (t) => {
  const ctx = await buildTestApp(t)
  const other = await buildTestApp(t, { REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix })
  const admin = await newAdmin(ctx)
  const email = ctx.email()
  await signUp(ctx.app, email)
  for (let i = 0; i < 5; i++) await login(other.app, email)
  await other.app.close()
  const hour = (await call(ctx.app, 'GET', '/admin/activity', admin.token)).json()
  t.equal(hour.logins.slice(-2).reduce((a: number, b: number) => a + b, 0), 6)
})

async function listening (ctx: TestContext): Promise<string> {
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  return `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
}

const sessionEvent = (type: string, sessionId?: string) => (m: SseMessage) => m.event === 'session' && JSON.parse(m.data).type === type && (sessionId === undefined || JSON.parse(m.data).session_id === sessionId)

t.test('GET /admin/events: the backlog, then events as they happen, resumable with Last-Event-ID', async (t) => {
  const ctx = await buildTestApp(t)
  const base = await listening(ctx)
  const admin = await newAdmin(ctx)
  const auth = { authorization: `Token token=${admin.token}` }
  const { token, user } = await newSession(ctx)

  const stream = await openEventStream(`${base}/admin/events`, auth)
  t.teardown(stream.close)
  t.equal(stream.status, 200)
  t.match(stream.headers['content-type'], /^text\/event-stream/)
  t.equal(stream.headers['cache-control'], 'no-store')
  t.match(stream.raw(), /^retry: 5000\n\n/, 'EventSource is told to reconnect after 5 s')
  const created = await stream.waitFor(sessionEvent('created', claimsOf(token).jti as string))
  t.match(JSON.parse(created.data), { type: 'created', user_id: user.id, reason: '', at: String })
  t.equal(created.id, JSON.parse(created.data).id, 'the SSE id is the stream entry id')

  await call(ctx.app, 'DELETE', '/sessions/current', token)
  const revoked = await stream.waitFor(sessionEvent('revoked', claimsOf(token).jti as string), 5000)
  t.match(JSON.parse(revoked.data), { reason: 'logout', user_id: user.id }, 'a logout shows up within a poll')

  // A reconnect names the last event it saw and gets only what came after.
  const resumed = await openEventStream(`${base}/admin/events`, { ...auth, 'last-event-id': created.id! })
  t.teardown(resumed.close)
  const first = await resumed.waitFor((m) => m.event === 'session')
  t.equal(first.id, revoked.id, 'resumes right after the given event')

  for (const bad of ['abc', '1-2-3', '99999999999999999-0', '1-0\r\nevent: forged']) {
    const res = await ctx.app.inject({ url: '/admin/events', headers: { ...auth, 'last-event-id': bad } })
    t.equal(res.statusCode, 400, `Last-Event-ID ${JSON.stringify(bad)}`)
  }
  const notAdmin = await openEventStream(`${base}/admin/events`, { authorization: `Token token=${(await newSession(ctx)).token}` })
  t.equal(notAdmin.status, 403, 'admins only')
  await notAdmin.ended
})

t.test('GET /admin/events: a stream ends when its session does, and when the app closes', async (t) => {
  const ctx = await buildTestApp(t)
  const base = await listening(ctx)
  const admin = await newAdmin(ctx)
  const stream = await openEventStream(`${base}/admin/events`, { authorization: `Token token=${admin.token}` })
  t.equal(stream.status, 200)
  // Revoked from elsewhere (another admin, a password change): the open stream must not outlive it.
  await ctx.app.sessions.revoke(claimsOf(admin.token).jti as string, admin.user.id, 'admin')
  await stream.waitFor((m) => m.event === 'signed-out', 20_000)
  await stream.ended
  t.pass('the stream ended at its next check')

  const { token } = await newAdmin(ctx)
  const open = await openEventStream(`${base}/admin/events`, { authorization: `Token token=${token}` })
  t.equal(open.status, 200)
  const started = Date.now()
  await ctx.app.close()
  await open.ended
  t.ok(Date.now() - started < 5000, 'close does not wait for the stream')
})

t.test('GET /admin/events: at most SSE_LIMITS.maxStreams per instance; a slot frees when one closes', async (t) => {
  // One admin opens them all: the per-session and per-user caps (their own test) are lifted.
  const ctx = await buildTestApp(t, {}, { logger: false, eventStreams: { perSession: 100, perUser: 100 } })
  const base = await listening(ctx)
  const admin = await newAdmin(ctx)
  const auth = { authorization: `Token token=${admin.token}` }
  const streams = await Promise.all(Array.from({ length: SSE_LIMITS.maxStreams }, () => openEventStream(`${base}/admin/events`, auth)))
  t.teardown(() => streams.forEach((s) => s.close()))
  t.ok(streams.every((s) => s.status === 200))
  const refused = await ctx.app.inject({ url: '/admin/events', headers: auth })
  t.equal(refused.statusCode, 503)
  t.match(refused.json(), { error: 'service_unavailable', message: /event streams/ })
  t.ok(refused.headers['retry-after'])
  streams[0]!.close()
  await streams[0]!.ended
  // The server learns of the close a moment after the client.
  t.ok(await eventually(3000, async () => {
    const again = await openEventStream(`${base}/admin/events`, auth)
    again.close()
    return again.status === 200
  }), 'the closed stream\'s slot is free again')
})

t.test('an email looked up by an admin does not reach the access log', async (t) => {
  const logs = captureLogs('info')
  const ctx = await buildTestApp(t, {}, { logger: logs.logger })
  const admin = await newAdmin(ctx)
  const { email } = await newSession(ctx)
  const res = await call(ctx.app, 'GET', `/admin/users?limit=&email=${encodeURIComponent(email)}&x=1`, admin.token)
  t.equal(res.statusCode, 400)
  await call(ctx.app, 'GET', `/admin/users?email=${encodeURIComponent(email)}`, admin.token)
  const lines = logs.lines.filter((line) => line.includes('/admin/users?'))
  t.equal(lines.length, 2)
  t.notOk(lines.some((line) => line.includes(email) || line.includes(encodeURIComponent(email))), 'the address is not in the log')
  t.match(lines[1], '/admin/users?email=[redacted]')
})
