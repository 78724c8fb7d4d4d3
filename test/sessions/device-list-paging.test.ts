import t from 'tap'
import { addSessions, buildTestApp, storeOf, type TestContext } from '../helpers/app.js'
import { call, claimsOf, login, me, newAdmin, newSession, signUp } from '../helpers/http.js'
import { keysOf } from '../helpers/redis.js'
import { sleep } from '../helpers/wait.js'
import { TOUCH_WRITE_INTERVAL_MS } from '../../src/sessions/scripts/index.js'

// The device list (GET /sessions) is ordered by creation, which never moves: an app can page it
// while the user's other devices go on using their sessions, and sees every session once, its own
// first; the page that ends the list says so with next_cursor null (issue 30).

interface Listed {
  id: string
  current: boolean
  created_at: string
  last_seen_at: string
}
interface Page {
  sessions: Listed[]
  next_cursor: string | null
}

const jti = (token: string) => claimsOf(token).jti as string

/** One page of GET /sessions (or of `url`) as `token` sees it. */
async function pageOf (ctx: TestContext, token: string, limit: number, cursor: string | null, url = '/sessions'): Promise<Page> {
  const res = await call(ctx.app, 'GET', `${url}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token)
  if (res.statusCode !== 200) throw new Error(`listing failed: ${res.statusCode} ${res.body}`)
  return res.json() as Page
}

/** Every page, following next_cursor; `between` runs before each page after the first, given those so far. */
async function allPages (ctx: TestContext, token: string, limit: number, between: (pages: Page[]) => Promise<void> = async () => {}, url = '/sessions'): Promise<Page[]> {
  const pages = [await pageOf(ctx, token, limit, null, url)]
  while (pages.at(-1)!.next_cursor !== null) {
    if (pages.length > 50) throw new Error('the pages never end')
    await between(pages)
    pages.push(await pageOf(ctx, token, limit, pages.at(-1)!.next_cursor, url))
  }
  return pages
}

/** `ids` in the device list's order: newest created_at first, ties by the higher id (as Redis sorts them). */
async function newestFirst (ctx: TestContext, userId: string, ids: string[]): Promise<string[]> {
  const created = new Map<string, number>()
  for (const id of ids) created.set(id, Number(await ctx.redis.hget(keysOf(ctx).session(userId, id), 'created_at')))
  return [...ids].sort((a, b) => created.get(b)! - created.get(a)! || (a < b ? 1 : -1))
}

/** A user with the caller's session and `others` more, each by a login (oldest first). */
async function userWithDevices (ctx: TestContext, others: number) {
  const { email, token, user } = await newSession(ctx)
  const devices: string[] = []
  for (let i = 0; i < others; i++) devices.push((await login(ctx.app, email)).token)
  return { email, token, user, devices }
}

t.test('paging 7 sessions by 3 while other devices use theirs lists every session exactly once, the caller\'s own first', async (t) => {
  const ctx = await buildTestApp(t)
  const { token, devices } = await userWithDevices(ctx, 6)
  const used: string[] = []
  const pages = await allPages(ctx, token, 3, async (before) => {
    // Past the write interval, so each use is written: by last use, it would move to the top.
    await sleep(TOUCH_WRITE_INTERVAL_MS + 50)
    // The device shown last (the cursor's own), and one not listed yet.
    const shown = new Set(before.flatMap((p) => p.sessions.map((s) => s.id)))
    const cursorDevice = devices.find((d) => jti(d) === before.at(-1)!.sessions.at(-1)!.id)
    const notYet = devices.find((d) => !shown.has(jti(d)))
    for (const device of [cursorDevice, notYet]) {
      if (!device) continue
      t.equal((await me(ctx.app, `Token token=${device}`)).statusCode, 200, `another device uses its session before page ${before.length + 1}`)
      used.push(jti(device))
    }
  })
  t.same(pages.map((p) => p.sessions.length), [3, 3, 1], 'seven sessions in pages of three')
  const ids = pages.flatMap((p) => p.sessions.map((s) => s.id))
  t.same(ids, [jti(token), ...devices.map(jti).reverse()], 'the caller\'s own first, then the others newest first, each once')
  t.ok(pages[0]!.sessions[0]!.current, 'marked current')
  t.equal(pages.at(-1)!.next_cursor, null, 'the last page says it is the last')
  t.ok(used.length >= 3, 'devices were used between the pages')
  const fresh = (await pageOf(ctx, token, 100, null)).sessions
  for (const id of used) {
    const s = fresh.find((x) => x.id === id)!
    t.ok(Date.parse(s.last_seen_at) > Date.parse(s.created_at), 'a used session shows its use in last_seen_at, in the same place')
  }
  t.same(fresh.map((s) => s.id), ids, 'a fresh listing has the same order')
})

t.test('a page that ends the list returns next_cursor null, a full one included', async (t) => {
  const ctx = await buildTestApp(t)
  const { token, user, devices } = await userWithDevices(ctx, 2)

  const exact = await pageOf(ctx, token, 3, null)
  t.equal(exact.sessions.length, 3, 'exactly `limit` sessions')
  t.equal(exact.next_cursor, null, 'and no cursor: there is no empty page after it')

  const byTwo = await allPages(ctx, token, 2)
  t.same(byTwo.map((p) => p.sessions.length), [2, 1])

  const byOne = await allPages(ctx, token, 1)
  t.same(byOne.map((p) => p.sessions.map((s) => s.id)), [[jti(token)], [jti(devices[1]!)], [jti(devices[0]!)]], 'limit=1: the caller\'s own alone first, then the others one by one')
  t.equal(byOne.at(-1)!.next_cursor, null)

  const admin = await newAdmin(ctx)
  const adminPages = await allPages(ctx, admin.token, 3, undefined, `/admin/users/${user.id}/sessions`)
  t.same(adminPages.map((p) => p.sessions.length), [3], 'the admin listing: one full page, no cursor')
  t.same(adminPages[0]!.sessions.map((s) => s.id), [...devices.map(jti).reverse(), jti(token)], 'newest first, nobody\'s own put first')

  const alone = await newSession(ctx)
  const single = await pageOf(ctx, alone.token, 1, null)
  t.same([single.sessions.length, single.next_cursor], [1, null], 'a single session with limit=1: one page')
})

t.test('a login between two pages does not disturb the pages after it', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, token, devices } = await userWithDevices(ctx, 6)
  let newcomer = ''
  const pages = await allPages(ctx, token, 3, async (before) => {
    if (before.length === 1) newcomer = (await login(ctx.app, email)).token
  })
  const ids = pages.flatMap((p) => p.sessions.map((s) => s.id))
  t.same(ids, [jti(token), ...devices.map(jti).reverse()], 'the seven there when paging began, each once, in order')
  t.notOk(ids.includes(jti(newcomer)), 'the new session, newer than the cursor, is not on a later page')
  const fresh = (await pageOf(ctx, token, 100, null)).sessions.map((s) => s.id)
  t.same(fresh.slice(0, 2), [jti(token), jti(newcomer)], 'a fresh listing shows it right after the caller\'s own')
})

t.test('sessions written by a release before the creation index are listed, in creation order', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  const old = await addSessions(store, user, 250)
  const created = keysOf(ctx).created(user.id)
  // As the release before left them: each hash and its index entry, no creation index.
  await ctx.redis.del(created)
  const { token } = await login(ctx.app, user.email)
  t.equal(await ctx.redis.zcard(created), 1, 'only the new login is in the creation index')

  const pages = await allPages(ctx, token, 100)
  const ids = pages.flatMap((p) => p.sessions.map((s) => s.id))
  t.equal(ids.length, 251, 'every session listed')
  t.equal(new Set(ids).size, 251, 'once each')
  t.same(ids, [jti(token), ...await newestFirst(ctx, user.id, old)], 'the caller\'s own first, then the old ones newest first')
  t.equal(pages.at(-1)!.next_cursor, null)
  t.equal(await ctx.redis.zcard(created), 251, 'the creation index now holds them all')
  const [oldest, score] = await ctx.redis.zrange(created, '0', '0', 'WITHSCORES')
  t.equal(score, await ctx.redis.hget(keysOf(ctx).session(user.id, oldest!), 'created_at'), 'scored by created_at')
  t.ok(await ctx.redis.pttl(created) > 0, 'with an expiry')
})

t.test('entries of ended sessions are dropped as the list passes them, and do not leave a cursor to an empty page', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  const ids = await newestFirst(ctx, user.id, await addSessions(store, user, 40))
  const keys = keysOf(ctx)
  // 30 sessions in the middle of the list vanish (as under memory pressure), their creation entries left behind.
  const dead = ids.slice(5, 35)
  for (const id of dead) {
    await ctx.redis.del(keys.session(user.id, id))
    await ctx.redis.zrem(keys.index(user.id), id)
  }
  const admin = await newAdmin(ctx)
  const pages = await allPages(ctx, admin.token, 3, undefined, `/admin/users/${user.id}/sessions`)
  const listed = pages.flatMap((p) => p.sessions.map((s) => s.id))
  t.same(listed, ids.filter((id) => !dead.includes(id)), 'the 10 live ones, newest first')
  t.same(pages.map((p) => p.sessions.length), [3, 3, 3, 1], 'full pages: a page reads on past dead entries to fill up and to find what follows')
  t.equal(pages.at(-1)!.next_cursor, null)
  t.equal(await ctx.redis.zcard(keys.created(user.id)), 10, 'the dead entries were dropped from the creation index')
})

t.test('a run of dead entries longer than one call reads is crossed over two pages, each call bounded', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  const ids = await addSessions(store, user, 4)
  const created = keysOf(ctx).created(user.id)
  // Two sessions, then 1,100 entries of sessions long gone (more than the 1,000 one call reads), then two more.
  const base = Date.now() - 60_000
  await ctx.redis.zadd(created, 'XX', ...ids.flatMap((id, n) => [String(base + [4000, 3000, 2000, 1000][n]!), id]))
  await ctx.redis.zadd(created, ...Array.from({ length: 1100 }, (_, n) => [String(base + 2500), `gone${String(n).padStart(18, '0')}`]).flat())
  const admin = await newAdmin(ctx)
  const pages = await allPages(ctx, admin.token, 2, undefined, `/admin/users/${user.id}/sessions`)
  t.same(pages.flatMap((p) => p.sessions.map((s) => s.id)), ids, 'all four, newest first, once each')
  t.ok(pages.length <= 3, `${pages.length} pages`)
  t.equal(pages.at(-1)!.next_cursor, null)
  t.equal(await ctx.redis.zcard(created), 4, 'and the run is gone from the creation index')
})

t.test('sessions only their hashes show ended (a client ended by ops, a revoke-all not swept yet) make neither a short page nor an empty last one', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, user } = await newSession(ctx)
  const leaked: string[] = []
  for (let i = 0; i < 5; i++) {
    const res = await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'jwt-aud': 'leaked' }, payload: { email, password: 'correct horse battery' } })
    leaked.push(res.json().token)
  }
  const older = (await login(ctx.app, email)).token
  await ctx.app.sessionTtl.endClient('leaked', 'test')
  for (let i = 0; i < 5; i++) leaked.push((await ctx.app.inject({ method: 'POST', url: '/sessions', headers: { 'jwt-aud': 'leaked' }, payload: { email, password: 'correct horse battery' } })).json().token)
  const web = (await login(ctx.app, email)).token
  // Newest first: web, the 5 logins since the ending, then the 5 ended ones (passed over), older and the first.
  const pages = await allPages(ctx, web, 2)
  const ids = pages.flatMap((page) => page.sessions.map((s) => s.id))
  t.same(pages.map((page) => page.sessions.length), [2, 2, 2, 2], 'full pages, the last one without a cursor')
  t.equal(new Set(ids).size, 8, 'the caller, the new logins, the first session and the one from before the ending')
  t.notOk(leaked.slice(0, 5).some((token) => ids.includes(jti(token))), 'no ended session listed')
  t.ok(ids.includes(jti(older)))
  t.equal(ids[0], jti(web), 'the caller first')
  void user
})

t.test('the creation index does not keep the entries of sessions that ran out unlisted', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '1', EXPIRED_EVENTS: 'off' })
  const { email, user } = await newSession(ctx)
  const created = keysOf(ctx).created(user.id)
  for (let round = 0; round < 4; round++) {
    await sleep(1300)
    for (let i = 0; i < 4; i++) await login(ctx.app, email)
  }
  t.equal(await ctx.redis.zcard(created), 4, 'after four rounds of four logins that each ran out, only the last round is indexed')
  // Not all gone at once: a sampled check at each login drops what the index no longer holds.
  const store = await storeOf(t, ctx)
  const ids = await addSessions(store, user, 30)
  await ctx.redis.zrem(keysOf(ctx).index(user.id), ...ids.slice(0, 20))
  for (let i = 0; i < 10; i++) await login(ctx.app, email)
  t.ok(await ctx.redis.zcard(created) < 4 + 30 + 10, `dead entries are dropped as logins go (${await ctx.redis.zcard(created)} left of 44)`)
})
