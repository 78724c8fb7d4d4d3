import type { AddressInfo } from 'node:net'
import { type IncomingMessage, request } from 'node:http'
import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { SseLimits } from '../../src/http/sse.js'
import { SSE_LIMITS } from '../../src/http/sse.js'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { login, newAdmin } from '../helpers/http.js'
import { eventually } from '../helpers/wait.js'
import { openEventStream } from './event-stream.js'

// Who may hold an event stream, and for how long (src/http/sse.ts): one admin token must not be
// able to hold every stream of an instance forever, nor a client that stopped reading.

async function served (t: Parameters<typeof buildTestApp>[0], limits: Partial<SseLimits> = {}) {
  const ctx = await buildTestApp(t, {}, { logger: false, eventStreams: limits })
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  return { ctx, base: `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}` }
}

const connections = (ctx: TestContext) => new Promise<number>((resolve) => ctx.app.server.getConnections((_err, n) => resolve(n)))

t.test(`at most ${SSE_LIMITS.perSession} streams per session and ${SSE_LIMITS.perUser} per user; freed when one closes`, async (t) => {
  const { ctx, base } = await served(t)
  const admin = await newAdmin(ctx)
  const tokens = [admin.token, (await login(ctx.app, admin.email)).token, (await login(ctx.app, admin.email)).token]
  const open = (token: string) => openEventStream(`${base}/admin/events`, { authorization: `Token token=${token}` })
  const first = [await open(tokens[0]!), await open(tokens[0]!)]
  t.teardown(() => first.forEach((s) => s.close()))
  t.same(first.map((s) => s.status), [200, 200])
  const third = await ctx.app.inject({ url: '/admin/events', headers: { authorization: `Token token=${tokens[0]}` } })
  t.equal(third.statusCode, 503, 'the third stream of one session is refused')
  t.match(third.json(), { error: 'service_unavailable', message: /session already has 2 event streams/ })
  t.ok(third.headers['retry-after'])

  const second = [await open(tokens[1]!), await open(tokens[1]!)]
  t.teardown(() => second.forEach((s) => s.close()))
  t.same(second.map((s) => s.status), [200, 200], 'another session of the same user has its own two')
  const fifth = await ctx.app.inject({ url: '/admin/events', headers: { authorization: `Token token=${tokens[2]}` } })
  t.equal(fifth.statusCode, 503, 'the fifth of one user is refused, from a session that has none')
  t.match(fifth.json(), { message: /user already has 4 event streams/ })

  const other = await newAdmin(ctx)
  const theirs = await open(other.token)
  t.teardown(theirs.close)
  t.equal(theirs.status, 200, 'another user is not held up by them')

  first[0]!.close()
  t.ok(await eventually(3000, async () => {
    const again = await open(tokens[2]!)
    again.close()
    return again.status === 200
  }), 'a closed stream frees its share')
})

t.test('a stream ends at its maximum age with `event: end` (max-age), and the reconnect is authenticated again', async (t) => {
  const { ctx, base } = await served(t, { maxAgeMs: 1500 })
  const admin = await newAdmin(ctx)
  const auth = { authorization: `Token token=${admin.token}` }
  const started = Date.now()
  const stream = await openEventStream(`${base}/admin/events`, auth)
  const end = await stream.waitFor((m) => m.event === 'end', 5000)
  t.same(JSON.parse(end.data), { reason: 'max-age' }, 'the client knows it was not an error')
  await stream.ended
  t.ok(Date.now() - started >= 1400, `after its maximum age (${Date.now() - started} ms)`)
  t.equal(stream.messages.at(-1)?.event, 'end', 'the last thing sent')

  await ctx.app.sessions.revoke(String((JSON.parse(Buffer.from(admin.token.split('.')[1]!, 'base64url').toString())).jti), admin.user.id, 'admin')
  const again = await ctx.app.inject({ url: '/admin/events', headers: auth })
  t.equal(again.statusCode, 401, 'a session that has gone since is refused at the reconnect')
})

t.test('a stream whose client stopped reading is ended once its waiting bytes have not moved for unreadMs', async (t) => {
  // The cap on waiting bytes lifted, so only the unread rule can end it.
  const { ctx, base } = await served(t, { unreadMs: 1500, maxUnsentBytes: 1024 ** 3 })
  const admin = await newAdmin(ctx)
  let closed = false
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(`${base}/admin/events`, { headers: { accept: 'text/event-stream', authorization: `Token token=${admin.token}` } }, (res) => {
      t.equal(res.statusCode, 200)
      // Never read: the kernel's buffers fill, then the server's.
      res.pause()
      res.on('close', () => { closed = true })
      resolve(res)
    })
    req.on('error', reject)
    t.teardown(() => req.destroy())
    req.end()
  })
  t.equal(await connections(ctx), 1)
  // About 12 MB of rows (logins do not collapse): more than loopback's socket buffers hold.
  const key = `${ctx.config.redisKeyPrefix}events`
  for (let done = 0; done < 40_000; done += 5000) {
    const pipeline = ctx.redis.pipeline()
    for (let i = done; i < done + 5000; i++) pipeline.xadd(key, '*', 'v', '1', 'type', 'created', 'session_id', `s${i}`, 'user_id', `u${i}`, 'reason', '', 'client', 'x'.repeat(100))
    await pipeline.exec()
  }
  t.ok(await eventually(15_000, async () => (await connections(ctx)) === 0), 'the server ended it')
  // Reading again, the client gets what was sent, then the end.
  response.resume()
  t.ok(await eventually(10_000, () => closed), 'and the client, once it reads again, finds it closed')
})

t.test('a burst of 3,000 rows that do not collapse (a morning of sign-ins) reaches a reading client whole: paced, not cut off', async (t) => {
  const ctx = await buildTestApp(t, {}, { logger: false })
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const admin = await newAdmin(ctx)
  const stream = await openEventStream(`${base}/admin/events?type=created`, { authorization: `Token token=${admin.token}` })
  t.teardown(stream.close)
  const opened = stream.messages.filter((m) => m.event === 'session').length
  // 3,000 sign-ins of different users, about 1 MB of rows: four times what a stream may hold unsent.
  const key = `${ctx.config.redisKeyPrefix}events`
  const pipeline = ctx.redis.pipeline()
  for (let i = 0; i < 3000; i++) pipeline.xadd(key, '*', 'v', '1', 'type', 'created', 'session_id', String(i).padStart(22, 'A'), 'user_id', randomUUID(), 'reason', '', 'client', 'x'.repeat(64))
  await pipeline.exec()
  let ended = false
  void stream.ended.then(() => { ended = true })
  await eventually(30_000, () => ended || stream.messages.filter((m) => m.event === 'session').length >= opened + 3000)
  const ids = stream.messages.filter((m) => m.event === 'session').slice(opened).map((m) => (JSON.parse(m.data) as { session_id: string }).session_id)
  t.equal(new Set(ids).size, 3000, 'every one, once')
  t.equal(ids[2999], String(2999).padStart(22, 'A'), 'in order')
  t.notOk(ended, 'and the stream is still open')
})
