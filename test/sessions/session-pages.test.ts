import t from 'tap'
import { addSessions, buildTestApp, storeOf } from '../helpers/app.js'
import { call, claimsOf, login, newAdmin, newSession, signUp } from '../helpers/http.js'
import { keysOf } from '../helpers/redis.js'
import { sleep } from '../helpers/wait.js'
import { TOUCH_WRITE_INTERVAL_MS } from '../../src/sessions/scripts/index.js'

// GET /sessions and GET /admin/users/:id/sessions answer a page at a time (at most 100 sessions),
// most recently used first, so a listing costs the same however many sessions a user has.

interface Listed {
  id: string
  expires_at: string
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

t.test('pages follow on from each other, newest use first, every session once', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, token, user } = await newSession(ctx)
  for (let i = 0; i < 6; i++) await login(ctx.app, email)
  // Past the write interval, so the listing's own touch is written and puts the caller first.
  await sleep(TOUCH_WRITE_INTERVAL_MS + 50)

  const pages = await allPages((query) => call(ctx.app, 'GET', `/sessions${query}`, token), 3)
  t.same(pages.map((p) => p.length), [3, 3, 1], 'seven sessions in pages of three')
  const listed = pages.flat()
  t.equal(new Set(listed.map((s) => s.id)).size, 7, 'no session twice')
  t.equal(listed[0]!.id, claimsOf(token).jti, 'the caller\'s own (just used) first')
  const expiries = listed.map((s) => Date.parse(s.expires_at))
  t.same(expiries, [...expiries].sort((a, b) => b - a), 'most recently used first')

  const whole = (await call(ctx.app, 'GET', '/sessions', token)).json()
  t.equal(whole.sessions.length, 7, 'without ?limit a page holds up to 100')
  t.equal(whole.next_cursor, null, 'and this one is the last')

  const admin = await newAdmin(ctx)
  const adminPages = await allPages((query) => call(ctx.app, 'GET', `/admin/users/${user.id}/sessions${query}`, admin.token), 4)
  t.same(adminPages.map((p) => p.length), [4, 3], 'the admin listing pages the same way')
  t.same(new Set(adminPages.flat().map((s) => s.id)), new Set(listed.map((s) => s.id)))
})

t.test('sessions used in the same millisecond are neither skipped nor repeated', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const { token, user } = await newSession(ctx)
  const store = await storeOf(t, ctx)
  const ids = await addSessions(store, user, 40)
  // All 41 get the same score (expiry), as if used in one millisecond.
  const index = keysOf(ctx).index(user.id)
  const [, score] = await ctx.redis.zrange(index, '-1', '-1', 'WITHSCORES')
  await ctx.redis.zadd(index, 'XX', ...ids.flatMap((id) => [score!, id]))
  const pages = await allPages((query) => call(ctx.app, 'GET', `/sessions${query}`, token), 7)
  const listed = pages.flat().map((s) => s.id)
  t.equal(listed.length, 41)
  t.equal(new Set(listed).size, 41, 'each exactly once')
})

t.test('when the cursor\'s own session moves, the next page still starts right after it, ties and all', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const user = await signUp(ctx.app, ctx.email())
  const admin = await newAdmin(ctx)
  const store = await storeOf(t, ctx)
  const ids = await addSessions(store, user, 6)
  const index = keysOf(ctx).index(user.id)
  const [, score] = await ctx.redis.zrange(index, '-1', '-1', 'WITHSCORES')
  await ctx.redis.zadd(index, 'XX', ...ids.flatMap((id) => [score!, id]))
  const list = (query: string) => call(ctx.app, 'GET', `/admin/users/${user.id}/sessions${query}`, admin.token)
  const first = (await list('?limit=2')).json()
  // Past the write interval, so the touch writes and moves it off the shared score.
  await sleep(TOUCH_WRITE_INTERVAL_MS + 50)
  t.ok(await store.touch(first.sessions[1].id, user.id), 'the cursor\'s session is used: it moves to the top, off the shared score')
  const rest = (await allPages(list, 2, first.next_cursor)).flat().map((s) => s.id)
  t.same(rest.sort(), ids.filter((id) => !first.sessions.some((s: Listed) => s.id === id)).sort(), 'the four sessions after it, none skipped')
})

t.test('when the cursor\'s own session is ended between pages, none of the rest is skipped', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const user = await signUp(ctx.app, ctx.email())
  const admin = await newAdmin(ctx)
  const store = await storeOf(t, ctx)
  const ids = await addSessions(store, user, 7)
  const index = keysOf(ctx).index(user.id)
  // Three share the cursor's score, as sessions capped at the same absolute end would.
  const ranked = await ctx.redis.zrange(index, '0', '-1', 'REV', 'WITHSCORES')
  await ctx.redis.zadd(index, 'XX', ranked[3]!, ranked[2]!, ranked[3]!, ranked[4]!)
  const list = (query: string) => call(ctx.app, 'GET', `/admin/users/${user.id}/sessions${query}`, admin.token)
  const first = (await list('?limit=2')).json()
  t.ok(await store.revoke(first.sessions[1].id, user.id, 'logout'), 'the last session shown is logged out')
  const rest = (await allPages(list, 2, first.next_cursor)).flat().map((s) => s.id)
  t.same(rest.sort(), ids.filter((id) => !first.sessions.some((s: Listed) => s.id === id)).sort(), 'the five after it, none skipped')
})

t.test('a session used between two pages moves up and is not listed again', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, token } = await newSession(ctx)
  const others = []
  for (let i = 0; i < 5; i++) others.push((await login(ctx.app, email)).token)
  const first = (await call(ctx.app, 'GET', '/sessions?limit=3', token)).json()
  const lastOnFirstPage = first.sessions.at(-1).id as string
  const moved = others.find((o) => claimsOf(o).jti === lastOnFirstPage)!
  t.equal((await call(ctx.app, 'GET', '/me', moved)).statusCode, 200, 'the cursor\'s own session is used: it moves to the top')
  const second = (await call(ctx.app, 'GET', `/sessions?limit=3&cursor=${encodeURIComponent(first.next_cursor)}`, token)).json()
  const ids = [...first.sessions, ...second.sessions].map((s: Listed) => s.id)
  t.equal(new Set(ids).size, ids.length, 'nothing listed twice')
  t.equal(ids.length, 6, 'and nothing below the cursor missed')
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
