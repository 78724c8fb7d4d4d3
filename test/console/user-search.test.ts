import t, { type Test } from 'tap'
import { SUMMARY_READ } from '../../src/sessions/types.js'
import { statementTimedOut } from '../../src/users/user-list.js'
import { addSessions, buildTestApp, storeOf, type TestContext } from '../helpers/app.js'
import { uniqueId } from '../helpers/config.js'
import { sql } from '../helpers/db.js'
import { call, login, newAdmin, newSession, signUp } from '../helpers/http.js'

// GET /admin/users without `email`: the ops console's list of users and its search. The test
// database is shared by test files running at once, so every search here is scoped by text only
// this file's users hold (the app's own email domain, or a marker), and the list's order is checked
// on users dated in the future, ahead of everyone else's.

interface Listed {
  id: string
  email: string
  created_at: string
  live_sessions: number
  last_seen_at: string | null
}
interface Page {
  users: Listed[]
  next_cursor: string | null
}

/** A marker no other test's email holds (lower case hex, 12 characters). */
const marker = () => uniqueId()
/** A user with exactly this email (on the app's own domain, so teardown deletes it). */
const userWith = async (ctx: TestContext, local: string) => {
  const domain = ctx.email().split('@')[1]!
  return await signUp(ctx.app, `${local}@${domain}`)
}
const emailsOf = (page: Page) => page.users.map((user) => user.email)

async function admin (t: Test) {
  const ctx = await buildTestApp(t)
  const { token } = await newAdmin(ctx)
  const get = (query: string, as = token) => call(ctx.app, 'GET', `/admin/users?${query}`, as)
  const page = async (query: string) => {
    const res = await get(query)
    t.equal(res.statusCode, 200, `GET /admin/users?${query}: ${res.body.slice(0, 200)}`)
    return res.json() as Page
  }
  /** Every page of a query, following next_cursor (bounded: a test never needs more than 20). */
  const allPages = async (query: string, limit: number) => {
    const pages: Page[] = []
    let cursor: string | null = null
    do {
      const next: Page = await page(`${query}&limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)
      pages.push(next)
      cursor = next.next_cursor
    } while (cursor !== null && pages.length < 20)
    return pages
  }
  return { ctx, token, get, page, allPages }
}

/** Users dated `at` (some sharing one millisecond), in the order the list must give them: created_at, then id, both descending. */
async function dated (ctx: TestContext, stamps: string[]) {
  const domain = ctx.email().split('@')[1]!
  const created = []
  for (const [i, at] of stamps.entries()) {
    const user = await signUp(ctx.app, `dated${i}.${uniqueId()}@${domain}`)
    await sql('UPDATE users SET created_at = $2 WHERE id = $1', [user.id, at])
    created.push({ ...user, at: new Date(at + 'Z').getTime() })
  }
  return created.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1))
}

t.test('the list: newest first, paged by cursor without repeats or gaps, users of one millisecond included', async (t) => {
  const { ctx, allPages } = await admin(t)
  // Far in the future, so they lead the list whatever other test files create meanwhile.
  const year = 2900 + Math.floor(Math.random() * 90)
  const tie = `${year}-06-01 12:00:00.123`
  const expected = await dated(ctx, [tie, `${year}-06-01 12:00:00.124`, tie, tie, `${year}-01-01 00:00:00`, tie, `${year}-06-01 12:00:00.122`])
  const pages = await allPages('', 3)
  const seen = pages.flatMap((page) => page.users)
  const ours = seen.filter((user) => expected.some((e) => e.id === user.id))
  t.same(ours.map((user) => user.id), expected.map((user) => user.id), 'newest first; in one millisecond, by id')
  t.equal(new Set(seen.map((user) => user.id)).size, seen.length, 'no user on two pages')
  for (const page of pages.slice(0, -1)) t.equal(page.users.length, 3, 'full pages until the last')
  const order = seen.map((user) => Date.parse(user.created_at))
  t.ok(order.every((at, i) => i === 0 || at <= order[i - 1]!), 'each page, and the pages, newest first')
  t.match(seen[0], { id: expected[0]!.id, created_at: new Date(expected[0]!.at).toISOString(), live_sessions: 0, last_seen_at: null })
})

t.test('a search pages the same way, to its last page', async (t) => {
  const { ctx, allPages } = await admin(t)
  const m = marker()
  const tie = '2026-03-04 05:06:07.089'
  const domain = ctx.email().split('@')[1]!
  const expected = []
  for (let i = 0; i < 5; i++) {
    const user = await signUp(ctx.app, `p${i}.${m}@${domain}`)
    await sql('UPDATE users SET created_at = $2 WHERE id = $1', [user.id, i === 2 ? '2026-03-04 05:06:07.090' : tie])
    expected.push({ ...user, at: i === 2 ? 1 : 0 })
  }
  expected.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1))
  const pages = await allPages(`q=${m}`, 2)
  t.same(pages.map((page) => page.users.length), [2, 2, 1], 'three pages')
  t.same(pages.flatMap((page) => page.users.map((user) => user.id)), expected.map((user) => user.id), 'every match once, newest first, ties by id')
  t.equal(pages.at(-1)!.next_cursor, null, 'and no cursor after the last')
  t.same(emailsOf(pages[0]!), expected.slice(0, 2).map((user) => user.email))
})

t.test('search: anywhere in the email from 3 characters, at its start below; in any case; trimmed', async (t) => {
  const { ctx, page } = await admin(t)
  const m = marker()
  const bob = await userWith(ctx, `bob.${m}`)
  const robert = await userWith(ctx, `robert.bobson.${m}`)
  const found = async (q: string) => emailsOf(await page(`q=${encodeURIComponent(q)}`)).sort()

  t.same(await found(`bob.${m}`), [bob.email], 'the start of an email')
  t.same(await found(`${m}@`), [bob.email, robert.email].sort(), 'the middle of an email')
  t.same(await found(`bson.${m}`), [robert.email], 'inside a word')
  t.same(await found(`BOB.${m.toUpperCase()}`), [bob.email], 'in upper case')
  t.same(await found(`  Bob.${m}  `), [bob.email], 'with spaces around it, as at login')
  t.same(await found(`bob.${m}x`), [], 'nothing else')

  // Two characters: the start only. `}{` begins no one's email but this file's (of this run: one
  // that a run killed before its teardown left is not looked at).
  const start = await userWith(ctx, `}{${m}`)
  const inside = await userWith(ctx, `a}{${m}`)
  const ours = (emails: string[]) => emails.filter((email) => email.endsWith(start.email.slice(start.email.indexOf('@'))))
  t.same(ours(await found('}{')), [start.email], 'two characters: emails that start with them, not those that hold them')
  t.same(await found(`}{${m}`), [start.email, inside.email].sort(), 'three or more: anywhere')
  // Trigrams are of letters and digits: a query with no three in a row is looked for at the start only.
  const dotted = await userWith(ctx, `}{.${m}`)
  await userWith(ctx, `a}{.${m}`)
  t.same(ours(await found('}{.')), [dotted.email], 'three characters but no three letters or digits: the start only')
})

t.test('a search too broad to list quickly is stopped by PostgreSQL and refused, rather than left to run', async (t) => {
  const { ctx } = await admin(t)
  // The error the search's statement_timeout raises, from a real PostgreSQL, is the one recognised.
  const slow = ctx.app.db.$transaction([
    ctx.app.db.$queryRaw`SELECT set_config('statement_timeout', '50', true)`,
    ctx.app.db.$queryRaw`SELECT pg_sleep(1)`,
  ])
  const err = await slow.then(() => null, (e: unknown) => e)
  t.ok(err, 'the statement was stopped')
  t.ok(statementTimedOut(err), `and recognised: ${(err as Error).message.split('\n')[0]}`)
  t.notOk(statementTimedOut(new Error('connection refused')), 'another failure is not')
  // The setting was the transaction's own: the next query on the pool runs unbounded as before.
  t.same(await ctx.app.db.$queryRaw`SELECT current_setting('statement_timeout') AS timeout`, [{ timeout: '0' }])
})

t.test('search: %, _ and \\ are only characters', async (t) => {
  const { ctx, page } = await admin(t)
  const m = marker()
  const percent = await userWith(ctx, `x%y.${m}`)
  await userWith(ctx, `xzzzy.${m}`)
  const underscore = await userWith(ctx, `u_v.${m}`)
  await userWith(ctx, `uzv.${m}`)
  const found = async (q: string) => emailsOf(await page(`q=${encodeURIComponent(q)}`))
  t.same(await found(`x%y.${m}`), [percent.email], '% is not "anything"')
  t.same(await found(`u_v.${m}`), [underscore.email], '_ is not "any one character"')
  t.same(await found(`%${m}`), [], 'not even at the start')
  t.same(await found(`\\${m}`), [], 'a backslash escapes nothing')
  t.same(await found('%%'), [], 'two characters of wildcard: emails that start with "%%", none')
})

t.test('bad input is a 400: characters no email has, too long, a bad cursor or limit, email with q', async (t) => {
  const { ctx, get } = await admin(t)
  const { email, token: userToken } = await newSession(ctx)
  const cases: Array<[string, string]> = [
    [`q=${encodeURIComponent('bob\u0000')}`, 'a NUL'],
    [`q=${encodeURIComponent('bob\n')}`, 'a newline'],
    [`q=${encodeURIComponent('bob\u007F')}`, 'DEL'],
    [`q=${encodeURIComponent('josé')}`, 'a letter outside ASCII'],
    [`q=${encodeURIComponent('\u212Aim')}`, 'the Kelvin sign, which lower-cases to an ASCII k'],
    [`q=${'a'.repeat(255)}`, 'over 254 characters'],
    ['cursor=abc', 'a cursor the API did not write'],
    ['cursor=1700000000000.not-a-uuid', 'a cursor without a user id'],
    ['cursor=1700000000000.0B7C4B5A-1111-4222-8333-944445555666', 'a cursor in upper case'],
    ['cursor=1234567890123456.0b7c4b5a-1111-4222-8333-944445555666', 'a cursor out of range'],
    ['cursor=253402300800000.0b7c4b5a-1111-4222-8333-944445555666', 'a cursor past the year 9999, which PostgreSQL would refuse'],
    ['limit=0', 'limit 0'],
    ['limit=101', 'limit over 100'],
    ['limit=1.5', 'a limit that is not whole'],
    ['limit=x', 'a limit that is not a number'],
    [`email=${encodeURIComponent(email)}&q=bob`, 'email and q'],
    [`email=${encodeURIComponent(email)}&limit=5`, 'email and limit'],
    ['q=bob&x=1', 'an unknown parameter'],
  ]
  for (const [query, why] of cases) {
    const res = await get(query)
    t.equal(res.statusCode, 400, why)
    t.equal(res.json().error, 'bad_request', why)
  }
  t.equal((await get(`q=${'a'.repeat(254)}`)).statusCode, 200, '254 characters are searched')
  t.equal((await get('q=bob', userToken)).statusCode, 403, 'not for a user')
  t.equal((await get('', userToken)).statusCode, 403, 'nor the list')
  t.equal((await ctx.app.inject({ url: '/admin/users?q=bob' })).statusCode, 401, 'not without a session')
  t.equal((await ctx.app.inject({ url: '/admin/users' })).statusCode, 401)
})

t.test('live_sessions and last_seen_at: the live sessions from Redis, 0 and null once they end', async (t) => {
  const { ctx, page } = await admin(t)
  const m = marker()
  const none = await userWith(ctx, `idle.${m}`)
  const user = await userWith(ctx, `busy.${m}`)
  const before = Date.now()
  const first = await login(ctx.app, user.email)
  const second = await login(ctx.app, user.email)
  const after = Date.now()
  const byEmail = async () => Object.fromEntries((await page(`q=${m}`)).users.map((listed) => [listed.email, listed]))

  const listed = await byEmail()
  t.equal(listed[user.email]!.live_sessions, 2, 'two sessions')
  const seen = Date.parse(listed[user.email]!.last_seen_at!)
  t.ok(seen >= before - 1000 && seen <= after + 1000, `last seen at login: ${listed[user.email]!.last_seen_at}`)
  t.match(listed[none.email], { live_sessions: 0, last_seen_at: null }, 'a user without sessions')
  const exact = await page(`email=${encodeURIComponent(user.email.toUpperCase())}`)
  t.match(exact, { users: [{ id: user.id, live_sessions: 2 }], next_cursor: null }, 'the exact lookup says the same')

  await call(ctx.app, 'DELETE', '/sessions/current', first.token)
  t.equal((await byEmail())[user.email]!.live_sessions, 1, 'one logged out')
  await call(ctx.app, 'DELETE', '/sessions/current', second.token)
  t.match((await byEmail())[user.email], { live_sessions: 0, last_seen_at: null }, 'both logged out')
})

t.test('live_sessions past the sessions read in full: counted from the index, less those read that are not live', async (t) => {
  const { ctx, page } = await admin(t)
  const m = marker()
  const user = await userWith(ctx, `many.${m}`)
  const store = await storeOf(t, ctx, { publish: false })
  const ids = await addSessions(store, user, SUMMARY_READ + 5)
  const listed = async () => (await page(`q=many.${m}`)).users[0]!
  t.match(await listed(), { live_sessions: SUMMARY_READ + 5, last_seen_at: String })
  // Ended one by one (a logout's script): gone from the index at once, whichever they were.
  for (const id of ids.slice(0, 7)) await store.revoke(id, user.id, 'admin')
  t.equal((await listed()).live_sessions, SUMMARY_READ - 2, 'down to what the index and the hashes say')
  await store.revokeAll(user.id, { reason: 'admin' })
  t.match(await listed(), { live_sessions: 0, last_seen_at: null }, 'none after a revoke-all')
})
