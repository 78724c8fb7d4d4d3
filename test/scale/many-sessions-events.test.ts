import type { AddressInfo } from 'node:net'
import t from 'tap'
import { openEventStream } from '../console/event-stream.js'
import { call, newAdmin, signUp } from '../helpers/http.js'
import { eventually } from '../helpers/wait.js'
import { MANY, manySessions, SLOW_BOUND_MS } from './many-sessions.js'

// A revoke-all of 100,000 sessions writes 100,000 `revoked` entries to the events stream. An open
// console must get them as a handful of rows whose counts add up, not 100,000 messages, and the
// history as a few rows too.

/** Stream ids compare as <ms>-<seq>, not as strings. */
const idOrder = (a: string, b: string) => {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint]
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint]
  return am === bm ? Number(as - bs) : Number(am - bm)
}

interface Row { id: string; first_id: string; type: string; reason: string; user_id: string; email: string | null; count: number; session_id: string }

t.test(`a revoke-all of ${MANY} sessions reaches an open console as a few rows, and the history too`, async (t) => {
  // The stream keeps all of the revoke-all's entries.
  const world = await manySessions(t, { EVENTS_MAX_LENGTH: String(2 * MANY) })
  const { ctx } = world
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  await world.populate(user)
  const admin = await newAdmin(ctx)
  const stream = await openEventStream(`${base}/admin/events`, { authorization: `Token token=${admin.token}` })
  t.teardown(stream.close)

  const { slow, bystander } = await world.watch(async () => {
    const res = await call(ctx.app, 'DELETE', `/admin/users/${user.id}/sessions`, admin.token)
    t.same(res.json(), { revoked: MANY })
  })
  // What the console adds: its reads of the stream (1,000 entries each) are never slow. (The
  // revoke-all's own XADDs are the other scale tests' business; on a busy two-core machine one
  // appending to a stream of 100,000 entries was seen to take 37 ms, once.)
  t.same(slow.filter((c) => /^x(rev)?range /i.test(c.command)), [], `no XRANGE or XREVRANGE over ${SLOW_BOUND_MS} ms`)
  t.ok(bystander.length > 0 && bystander.every((status) => status === 200), `another user made ${bystander.length} requests meanwhile, each answered 200`)

  const rows = () => stream.messages.filter((m) => m.event === 'session').map((m) => JSON.parse(m.data) as Row).filter((r) => r.type === 'revoked' && r.user_id === user.id)
  const total = () => rows().reduce((sum, row) => sum + row.count, 0)
  t.ok(await eventually(15_000, () => total() === MANY), `the counts add up to ${MANY} (${total()})`)
  const live = rows()
  t.ok(live.length <= 20, `in ${live.length} messages`)
  t.ok(live.every((r) => r.reason === 'admin' && r.email === email && r.session_id === ''), 'each names the user, by email too')
  for (let i = 1; i < live.length; i++) t.ok(idOrder(live[i]!.first_id, live[i - 1]!.id) > 0, `row ${i} continues where row ${i - 1} ended`)
  const entries = await ctx.redis.xlen(`${ctx.config.redisKeyPrefix}events`)
  t.ok(entries >= MANY, `the stream holds every entry (${entries})`)

  // The history, page after page as a console scrolls back, until the run is behind it.
  const pages: Row[][] = []
  let before = ''
  while (pages.length < 30) {
    const page = (await call(ctx.app, 'GET', `/admin/events/history?type=revoked${before}`, admin.token)).json()
    pages.push(page.events)
    if (page.next_before === null) break
    before = `&before=${page.next_before}`
  }
  const history = pages.flat().filter((r) => r.user_id === user.id)
  t.equal(history.reduce((sum, row) => sum + row.count, 0), MANY, 'the history\'s counts add up too')
  t.ok(history.length <= 12, `in ${history.length} rows over ${pages.length} requests (each reads at most 10,000 entries)`)
})
