import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { HISTORY_SCAN_MAX } from '../../src/sessions/console-feed.js'
import { createEmailCache } from '../../src/users/email-cache.js'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { call, claimsOf, newAdmin, newSession, PASSWORD } from '../helpers/http.js'
import { openEventStream, type SseMessage } from './event-stream.js'

// What the console's event list shows: rows with the user's email and the session's client, runs
// of revocations collapsed, filtered live and page by page (GET /admin/events, /admin/events/history).

async function listening (ctx: TestContext): Promise<string> {
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  return `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
}

const rowsOf = (messages: SseMessage[]) => messages.filter((m) => m.event === 'session').map((m) => JSON.parse(m.data))

/** Hand-written entries, as Gatehouse writes them: `count` of one kind, in one pipeline. */
async function addEntries (ctx: TestContext, count: number, entry: (i: number) => Partial<Record<string, string>>): Promise<void> {
  const key = `${ctx.config.redisKeyPrefix}events`
  for (let done = 0; done < count; done += 5000) {
    const pipeline = ctx.redis.pipeline()
    for (let i = done; i < Math.min(count, done + 5000); i++) {
      pipeline.xadd(key, '*', ...Object.entries({ v: '1', type: 'created', session_id: `s${i}`, user_id: 'u', reason: '', client: '', ...entry(i) }).flat() as string[])
    }
    await pipeline.exec()
  }
}

t.test('a row names the user by email and the session by its client; a revoke-all is one row', async (t) => {
  const ctx = await buildTestApp(t)
  const base = await listening(ctx)
  const admin = await newAdmin(ctx)
  const { user, email } = await newSession(ctx)
  const stream = await openEventStream(`${base}/admin/events`, { authorization: `Token token=${admin.token}` })
  t.teardown(stream.close)
  const phone = (await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD, client: 'Pixel 9' } })).json().token
  const created = await stream.waitFor((m) => m.event === 'session' && JSON.parse(m.data).session_id === claimsOf(phone).jti)
  t.same(JSON.parse(created.data), {
    id: created.id,
    first_id: created.id,
    at: JSON.parse(created.data).at,
    first_at: JSON.parse(created.data).at,
    type: 'created',
    reason: '',
    user_id: user.id,
    email,
    client: 'Pixel 9',
    session_id: claimsOf(phone).jti,
    count: 1,
  }, 'every field of a row')

  t.equal((await call(ctx.app, 'DELETE', `/admin/users/${user.id}/sessions`, admin.token)).statusCode, 200)
  const revoked = await stream.waitFor((m) => m.event === 'session' && JSON.parse(m.data).type === 'revoked', 5000)
  t.match(JSON.parse(revoked.data), { type: 'revoked', reason: 'admin', user_id: user.id, email, count: 2, session_id: '', client: '' }, 'both sessions in one row, which names neither session (nor one client: they differ)')
  t.not(JSON.parse(revoked.data).first_id, revoked.id, 'from its oldest entry to its newest')
  t.equal(revoked.id, JSON.parse(revoked.data).id, 'the SSE id is the newest entry: a reconnect resumes after the whole row')
})

t.test('a user who no longer exists has email null; ids that are not user ids are not looked up', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const gone = randomUUID()
  await addEntries(ctx, 2, (i) => ({ user_id: i === 0 ? gone : 'not-a-uuid' }))
  const { events } = (await call(ctx.app, 'GET', '/admin/events/history', admin.token)).json()
  t.match(events.slice(0, 2), [{ user_id: 'not-a-uuid', email: null }, { user_id: gone, email: null }])
})

t.test('GET /admin/events?type=&reason=: only the rows asked for, in the backlog and live; bad values are a 400', async (t) => {
  const ctx = await buildTestApp(t)
  const base = await listening(ctx)
  const admin = await newAdmin(ctx)
  const auth = { authorization: `Token token=${admin.token}` }
  await addEntries(ctx, 6, (i) => (i % 2 === 0 ? { type: 'revoked', reason: 'logout', user_id: `u${i}` } : {}))
  const stream = await openEventStream(`${base}/admin/events?type=revoked&reason=logout`, auth)
  t.teardown(stream.close)
  t.equal(stream.status, 200)
  const { token } = await newSession(ctx)
  await call(ctx.app, 'DELETE', '/sessions/current', token)
  await stream.waitFor((m) => m.event === 'session' && JSON.parse(m.data).session_id === claimsOf(token).jti, 5000)
  const rows = rowsOf(stream.messages)
  t.same(rows.map((r) => r.session_id), ['s0', 's2', 's4', claimsOf(token).jti], 'the logouts, not the logins')

  for (const query of ['type=signed-in', 'reason=bored', 'type=', 'type=revoked&type=expired', 'x=1', `reason=${'a'.repeat(300)}`]) {
    const res = await ctx.app.inject({ url: `/admin/events?${query}`, headers: auth })
    t.equal(res.statusCode, 400, query)
    t.equal(res.json().error, 'bad_request', query)
  }
})

t.test('GET /admin/events/history: pages newest first, collapsed, filtered, bounded by what the stream keeps', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const history = async (query = '') => {
    const res = await call(ctx.app, 'GET', `/admin/events/history${query}`, admin.token)
    t.equal(res.statusCode, 200, query)
    return res.json()
  }
  const everything = await history()
  const before = everything.events[0].id as string
  // 150 logins, then a run of 300 revocations of one user, then 10 expiries of another.
  await addEntries(ctx, 460, (i) => (i < 150 ? { user_id: `login${i}` } : i < 450 ? { type: 'revoked', reason: 'revoke-all', user_id: 'heavy' } : { type: 'expired', reason: 'ttl', user_id: 'idle' }))

  const first = await history()
  t.equal(first.events.length, 50, 'the default limit')
  t.match(first.events.slice(0, 3), [{ type: 'expired', count: 10, user_id: 'idle' }, { type: 'revoked', count: 300, session_id: '' }, { type: 'created', count: 1, session_id: 's149' }], 'newest first, each run one row')
  t.not(first.events[1].first_id, first.events[1].id, 'a row spans its oldest to its newest entry')
  const second = await history(`?before=${first.next_before}&limit=100`)
  t.equal(second.events[0].session_id, 's101', 'the next page goes on right after the last row of the one before')
  t.equal(second.events.length, 100)
  const third = await history(`?before=${second.next_before}&limit=100`)
  t.equal(third.events.findIndex((e: { id: string }) => e.id === before), 2, 'and reaches the entries from before the test (the admin\'s and its login)')
  t.equal(third.next_before, null, 'the oldest entry was read')
  t.equal(third.oldest_kept, everything.events.at(-1).first_id, 'the oldest entry kept')

  const filtered = await history('?type=revoked&reason=revoke-all')
  t.same(filtered.events.map((e: { count: number }) => e.count), [300])
  t.equal(filtered.next_before, null)

  for (const query of ['?before=abc', '?before=1-2-3', '?limit=0', '?limit=101', '?limit=x', '?type=bad', '?y=1']) {
    const res = await call(ctx.app, 'GET', `/admin/events/history${query}`, admin.token)
    t.equal(res.statusCode, 400, query)
  }
  t.equal((await call(ctx.app, 'GET', '/admin/events/history', (await newSession(ctx)).token)).statusCode, 403, 'admins only')
})

t.test('GET /admin/events/history: a request reads at most HISTORY_SCAN_MAX entries, and says where it stopped', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  await addEntries(ctx, 1, () => ({ type: 'expired', reason: 'idle', user_id: 'old' }))
  await addEntries(ctx, HISTORY_SCAN_MAX + 500, () => ({}))
  const page = (await call(ctx.app, 'GET', '/admin/events/history?type=expired', admin.token)).json()
  t.same(page.events, [], 'nothing found within the bound')
  t.type(page.next_before, 'string', 'but not the end: go on from here')
  const next = (await call(ctx.app, 'GET', `/admin/events/history?type=expired&before=${page.next_before}`, admin.token)).json()
  t.match(next.events, [{ type: 'expired', user_id: 'old' }])
  t.equal(next.next_before, null)
})

t.test('emails: one query per call for the ids not remembered, at most `max` remembered, for `ttlMs`; PostgreSQL down is null, logged once', async (t) => {
  let now = 0
  const queries: string[][] = []
  let failing = false
  const warnings: string[] = []
  const emails = createEmailCache({
    lookUp: async (ids) => {
      queries.push([...ids])
      if (failing) throw new Error('connection refused')
      return new Map(ids.filter((id) => id !== 'gone').map((id) => [id, `${id}@example.com`]))
    },
    log: { warn: (_details, message) => warnings.push(message), info: () => {} },
    max: 3,
    ttlMs: 1000,
    now: () => now,
  })
  t.same([...await emails(['a', 'b', 'a', 'gone'])], [['a', 'a@example.com'], ['b', 'b@example.com'], ['gone', null]])
  t.same(queries, [['a', 'b', 'gone']], 'one query, each id once')
  await emails(['a', 'b'])
  t.equal(queries.length, 1, 'remembered')
  await emails(['c'])
  await emails(['a'])
  t.same(queries.at(-1), ['a'], 'the oldest was forgotten past `max`')
  now = 1500
  await emails(['c'])
  t.same(queries.at(-1), ['c'], 'and each after `ttlMs`: an email can change')
  failing = true
  now = 3000
  t.same([...await emails(['a', 'd'])], [['a', null], ['d', null]], 'PostgreSQL down: null, no error')
  await emails(['a', 'd'])
  t.equal(warnings.length, 1, 'logged once per outage')
  failing = false
  t.same([...await emails(['d'])], [['d', 'd@example.com']], 'and looked up again once it answers')
})
