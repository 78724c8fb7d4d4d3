import t from 'tap'
import { addSessions, buildTestApp, storeOf, type TestContext } from '../helpers/app.js'
import { call, claimsOf, login, newAdmin, newSession, signUp } from '../helpers/http.js'
import { keysOf } from '../helpers/redis.js'
import { sleep } from '../helpers/wait.js'
import { TOUCH_WRITE_INTERVAL_MS } from '../../src/sessions/scripts/index.js'

// GET /sessions and GET /admin/users/:id/sessions answer a page at a time (at most 100 sessions),
// newest first by creation, so a listing costs the same however many sessions a user has and
// nothing moves while it is paged (test/sessions/device-list-paging.test.ts: under use).

interface Listed {
  id: string
  created_at: string
}

/** Every page of a listing, followed through next_cursor (from `cursor`, or the first page). */
async function allPages (list: (query: string) => ReturnType<typeof call>, limit: number, cursor: string | null = null) {
  const pages: Listed[][] = []
  do {
    const res = await list(`?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    if (res.statusCode !== 200) throw new Error(`listing failed: ${res.statusCode} ${res.body}`)
    const body = res.json() as { sessions: Listed[]; next_cursor: string | null }
    pages.push(body.sessions)
    cursor = body.next_cursor
    if (pages.length > 50) throw new Error('the pages never end')
  } while (cursor)
  return pages
}

/** Gives every session of `ids` the same created_at in the creation index, as logins in one millisecond would. */
async function sameCreation (ctx: TestContext, userId: string, ids: string[]) {
  const created = keysOf(ctx).created(userId)
  const [, score] = await ctx.redis.zrange(created, '-1', '-1', 'WITHSCORES')
  await ctx.redis.zadd(created, 'XX', ...ids.flatMap((id) => [score!, id]))
}

t.test('pages follow on from each other, the caller\'s own first, then newest first, every session once', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, token, user } = await newSession(ctx)
  const logins = []
  for (let i = 0; i < 6; i++) logins.push(claimsOf((await login(ctx.app, email)).token).jti as string)

  const pages = await allPages((query) => call(ctx.app, 'GET', `/sessions${query}`, token), 3)
  t.same(pages.map((p) => p.length), [3, 3, 1], 'seven sessions in pages of three')
  const listed = pages.flat()
  t.same(listed.map((s) => s.id), [claimsOf(token).jti, ...logins.reverse()], 'the caller\'s own (the oldest) first, then the others newest first')
  const created = listed.slice(1).map((s) => Date.parse(s.created_at))
  t.same(created, [...created].sort((a, b) => b - a), 'by created_at')

  const whole = (await call(ctx.app, 'GET', '/sessions', token)).json()
  t.equal(whole.sessions.length, 7, 'without ?limit a page holds up to 100')
  t.equal(whole.next_cursor, null, 'and this one is the last')

  const admin = await newAdmin(ctx)
  const adminPages = await allPages((query) => call(ctx.app, 'GET', `/admin/users/${user.id}/sessions${query}`, admin.token), 4)
  t.same(adminPages.map((p) => p.length), [4, 3], 'the admin listing pages the same way')
  t.same(adminPages.flat().map((s) => s.id), [...logins, claimsOf(token).jti], 'newest first, with no session put first')
})

t.test('sessions created in the same millisecond are neither skipped nor repeated', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const { token, user } = await newSession(ctx)
  const store = await storeOf(t, ctx)
  const ids = await addSessions(store, user, 40)
  await sameCreation(ctx, user.id, [claimsOf(token).jti as string, ...ids])
  const pages = await allPages((query) => call(ctx.app, 'GET', `/sessions${query}`, token), 7)
  const listed = pages.flat().map((s) => s.id)
  t.equal(listed.length, 41)
  t.equal(new Set(listed).size, 41, 'each exactly once')
  t.equal(listed[0], claimsOf(token).jti, 'the caller\'s own first')
})

t.test('when the cursor\'s own session is used between pages, the next page starts right after it, ties and all', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const user = await signUp(ctx.app, ctx.email())
  const admin = await newAdmin(ctx)
  const store = await storeOf(t, ctx)
  const ids = await addSessions(store, user, 6)
  await sameCreation(ctx, user.id, ids)
  const list = (query: string) => call(ctx.app, 'GET', `/admin/users/${user.id}/sessions${query}`, admin.token)
  const first = (await list('?limit=2')).json()
  // Past the write interval, so the use is written (and would have moved it, by last use).
  await sleep(TOUCH_WRITE_INTERVAL_MS + 50)
  t.ok(await store.touch(first.sessions[1].id, user.id), 'the cursor\'s session is used')
  const rest = (await allPages(list, 2, first.next_cursor)).flat().map((s) => s.id)
  t.same(rest.sort(), ids.filter((id) => !first.sessions.some((s: Listed) => s.id === id)).sort(), 'the four sessions after it, none skipped, none twice')
})

t.test('when the cursor\'s own session is ended between pages, none of the rest is skipped', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const user = await signUp(ctx.app, ctx.email())
  const admin = await newAdmin(ctx)
  const store = await storeOf(t, ctx)
  const ids = await addSessions(store, user, 7)
  const created = keysOf(ctx).created(user.id)
  // Three share the cursor's created_at, as logins in one millisecond would.
  const ranked = await ctx.redis.zrange(created, '0', '-1', 'REV', 'WITHSCORES')
  await ctx.redis.zadd(created, 'XX', ranked[3]!, ranked[2]!, ranked[3]!, ranked[4]!)
  const list = (query: string) => call(ctx.app, 'GET', `/admin/users/${user.id}/sessions${query}`, admin.token)
  const first = (await list('?limit=2')).json()
  t.ok(await store.revoke(first.sessions[1].id, user.id, 'logout'), 'the last session shown is logged out')
  const rest = (await allPages(list, 2, first.next_cursor)).flat().map((s) => s.id)
  t.same(rest.sort(), ids.filter((id) => !first.sessions.some((s: Listed) => s.id === id)).sort(), 'the five after it, none skipped')
})

t.test('bad paging parameters: 400, nothing listed', async (t) => {
  const ctx = await buildTestApp(t)
  const { token, user } = await newSession(ctx)
  const admin = await newAdmin(ctx)
  const cursor = `${Date.now()}.${claimsOf(token).jti}`
  for (const query of ['limit=0', 'limit=101', 'limit=-1', 'limit=1.5', 'limit=abc', 'limit=', 'limit=1e2', 'limit=007', 'cursor=', 'cursor=abc', `cursor=${cursor}x`, `cursor=-${cursor}`, `cursor=${cursor}%00`, 'page=2', `cursor=${cursor}&cursor=${cursor}`]) {
    for (const url of [`/sessions?${query}`, `/admin/users/${user.id}/sessions?${query}`]) {
      const res = await call(ctx.app, 'GET', url, url.startsWith('/admin') ? admin.token : token)
      t.equal(res.statusCode, 400, url)
      t.equal(res.json().error, 'bad_request')
    }
  }
  const wellFormed = await call(ctx.app, 'GET', `/sessions?limit=100&cursor=${cursor}`, token)
  t.equal(wellFormed.statusCode, 200, 'a well-formed cursor that matches nothing is just an empty page')
})
