import { randomUUID } from 'node:crypto'
import t from 'tap'
import { createRecentSessions, RECENT_SESSIONS_KEPT } from '../../src/telemetry/recent-sessions.js'
import { buildTestApp } from '../helpers/app.js'
import { call, claimsOf, login, me, newAdmin, newSession } from '../helpers/http.js'
import { sleep } from '../helpers/wait.js'

// "Who is signed in now": GET /admin/sessions, the console's headline and its list of the most
// recently active sessions across users, kept without any Redis work on the request path.

interface Row { id: string, user_id: string, email: string | null, client: string, active_at: string, last_seen_at: string }
interface Page { live_sessions: { count: number, counted_at: string } | null, sessions: Row[], next_cursor: string | null }

t.test('GET /admin/sessions: the live count with its age, and sessions most recently active first, across users', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const ada = await newSession(ctx)
  const bob = await newSession(ctx)
  const cy = await newSession(ctx)
  const list = async (query = '') => {
    const res = await call(ctx.app, 'GET', `/admin/sessions${query}`, admin.token)
    t.equal(res.statusCode, 200, res.body)
    return res.json() as Page
  }
  const jti = (token: string) => claimsOf(token).jti as string

  await sleep(5)
  t.equal((await me(ctx.app, `Token token=${ada.token}`)).statusCode, 200)
  const first = await list()
  // The admin's request comes last: it is the most recent of all.
  t.same(first.sessions.map((row) => row.id), [jti(admin.token), jti(ada.token), jti(cy.token), jti(bob.token)], 'most recently served first: a login counts as use')
  t.same(first.sessions.map((row) => row.email), [admin.email, ada.email, cy.email, bob.email], 'each with its email')
  t.ok(first.live_sessions, 'the headline')
  t.equal(first.live_sessions!.count, 4, 'every live session of this app, counted now')
  t.ok(Date.now() - Date.parse(first.live_sessions!.counted_at) < 20_000, 'with when it was counted')
  t.equal(first.next_cursor, null)

  // Paging: no session twice, none left out.
  const pageOne = await list('?limit=2')
  t.equal(pageOne.sessions.length, 2)
  t.ok(pageOne.next_cursor)
  const pageTwo = await list(`?limit=2&cursor=${pageOne.next_cursor}`)
  t.same([...pageOne.sessions, ...pageTwo.sessions].map((row) => row.id), [jti(admin.token), jti(ada.token), jti(cy.token), jti(bob.token)], 'the pages join up')
  t.equal(pageTwo.next_cursor, null, 'and the last says so')

  // Ended sessions are never shown, whichever way they ended.
  await call(ctx.app, 'DELETE', '/sessions/current', bob.token)
  t.equal((await call(ctx.app, 'DELETE', `/admin/users/${cy.user.id}/sessions`, admin.token)).statusCode, 200)
  const after = await list()
  t.same(after.sessions.map((row) => row.id), [jti(admin.token), jti(ada.token)], 'a logout and a revoke-all take sessions off the list')

  // A second login of a user is a session of its own.
  const again = await login(ctx.app, ada.email)
  t.same((await list('?limit=2')).sessions.map((row) => row.id), [jti(admin.token), jti(again.token)])
})

t.test('GET /admin/sessions: bad input is a 400; admins only', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const user = await newSession(ctx)
  const uuid = randomUUID()
  for (const [query, why] of [
    ['?limit=0', 'limit 0'], ['?limit=101', 'limit over 100'], ['?limit=abc', 'limit not a number'], ['?limit=-1', 'negative'],
    ['?cursor=x', 'a cursor of another shape'], [`?cursor=1.${uuid.toUpperCase()}.${'a'.repeat(22)}`, 'an upper-case user id'],
    [`?cursor=1.${uuid}.${'a'.repeat(23)}`, 'a session id too long'], [`?cursor=${'9'.repeat(16)}.${uuid}.${'a'.repeat(22)}`, 'a time too long'],
    ['?cursor=1.%00.a', 'a NUL'], ['?other=1', 'an unknown parameter'],
  ] as Array<[string, string]>) {
    const res = await call(ctx.app, 'GET', `/admin/sessions${query}`, admin.token)
    t.equal(res.statusCode, 400, why)
    t.equal(res.json().error, 'bad_request', why)
  }
  t.equal((await call(ctx.app, 'GET', '/admin/sessions', user.token)).statusCode, 403, 'not for a user')
  t.equal((await ctx.app.inject({ method: 'GET', url: '/admin/sessions' })).statusCode, 401, 'nor for no one')
  // A well-formed cursor of no entry is simply a place in the list.
  const res = await call(ctx.app, 'GET', `/admin/sessions?cursor=1.${uuid}.${'a'.repeat(22)}`, admin.token)
  t.equal(res.statusCode, 200)
  t.same(res.json().sessions, [], 'nothing was active before 1 ms past 1970')
})

t.test('the list is bounded: in memory and in Redis, whatever the number of sessions served', async (t) => {
  const ctx = await buildTestApp(t)
  const keyPrefix = `${ctx.config.redisKeyPrefix}bounded:`
  const recent = createRecentSessions(ctx.redis, { keyPrefix, log: { warn: () => {} }, flushIntervalMs: 3_600_000 })
  t.teardown(() => recent.close())
  const user = randomUUID()
  const ids = Array.from({ length: RECENT_SESSIONS_KEPT + 500 }, (_, i) => `s${String(i).padStart(21, '0')}`)
  for (const id of ids) recent.seen(user, id)
  const { sessions, more } = await recent.page(100)
  t.equal(sessions.length, 100)
  t.ok(more)
  t.equal(sessions[0]!.id, ids.at(-1), 'the newest first')
  t.equal(await ctx.redis.zcard(`${keyPrefix}activity:{activity}:recent-sessions`), RECENT_SESSIONS_KEPT, 'the oldest 500 were never written')
  t.ok(await ctx.redis.pttl(`${keyPrefix}activity:{activity}:recent-sessions`) > 0, 'and the list expires when no instance writes to it')

  // Another flush of newer ones trims the list to the newest it keeps.
  const other = randomUUID()
  for (let i = 0; i < 10; i++) recent.seen(other, `n${String(i).padStart(21, '0')}`)
  const top = await recent.page(10)
  t.ok(top.sessions.every((entry) => entry.userId === other), 'the newest ten first')
  t.equal(await ctx.redis.zcard(`${keyPrefix}activity:{activity}:recent-sessions`), RECENT_SESSIONS_KEPT)

  // An ended session leaves the list at the next flush.
  recent.ended(other, top.sessions[0]!.id)
  t.notOk((await recent.page(10)).sessions.some((entry) => entry.id === top.sessions[0]!.id))
})

t.test('a session served by two instances: the later use wins, whichever instance writes last', async (t) => {
  const ctx = await buildTestApp(t)
  const keyPrefix = ctx.config.redisKeyPrefix
  const one = createRecentSessions(ctx.redis, { keyPrefix, log: { warn: () => {} }, flushIntervalMs: 3_600_000 })
  const two = createRecentSessions(ctx.redis, { keyPrefix, log: { warn: () => {} }, flushIntervalMs: 3_600_000 })
  t.teardown(() => Promise.all([one.close(), two.close()]))
  const user = randomUUID()
  const id = 'a'.repeat(22)
  two.seen(user, id)
  await sleep(5)
  one.seen(user, id)
  const later = (await one.page(1)).sessions[0]!.at
  // Two writes its older use after one wrote the newer: the list keeps the newer.
  t.equal((await two.page(1)).sessions[0]!.at, later)
})
