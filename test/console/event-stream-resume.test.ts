import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { call, login, newAdmin, newSession } from '../helpers/http.js'
import { openEventStream } from './event-stream.js'

// Odd places to resume or page from: each gets a plain answer, never a stream that stays silent or a 503.

t.test('a Last-Event-ID past the newest event starts the stream afresh, rather than waiting for Redis\' clock to pass it', async (t) => {
  const ctx = await buildTestApp(t, {}, { logger: false })
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const admin = await newAdmin(ctx)
  const ahead = `${Date.now() + 3_600_000}-0`
  const stream = await openEventStream(`${base}/admin/events`, { authorization: `Token token=${admin.token}`, 'last-event-id': ahead })
  t.teardown(stream.close)
  t.equal(stream.status, 200)
  await stream.waitFor((m) => m.event === 'restart', 5000)
  t.pass('restart')
  const { email } = await newSession(ctx)
  await login(ctx.app, email)
  await stream.waitFor((m) => m.event === 'session' && m.data.includes(email), 5000)
  t.pass('and a login made now is shown now')
})

t.test('history before the first id there can be (0-0) is an empty last page, not a 503', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const res = await call(ctx.app, 'GET', '/admin/events/history?before=0-0', admin.token)
  t.equal(res.statusCode, 200)
  t.match(res.json(), { events: [], next_before: null })
})
