import { once } from 'node:events'
import { type AddressInfo, connect } from 'node:net'
import { request } from 'node:http'
import t, { type Test } from 'tap'
import { SSE_LIMITS } from '../../src/http/sse.js'
import { EVENT_BACKLOG } from '../../src/routes/activity.js'
import { startPrivateRedis } from '../faults/private-redis.js'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { newAdmin } from '../helpers/http.js'
import { eventually, sleep } from '../helpers/wait.js'
import { openEventStream } from './event-stream.js'

// The event stream when Redis is slow, frozen or gone, and when clients come and go in bursts: on a
// redis-server of the test's own, which it pauses (CLIENT PAUSE) and freezes (SIGSTOP).

async function served (t: Test) {
  const redis = await startPrivateRedis(t)
  // One admin opens them all: the per-session and per-user caps (tested in admin-api.test.ts) are lifted.
  const ctx = await buildTestApp(t, { REDIS_URL: redis.url }, { logger: false, eventStreams: { perSession: 100, perUser: 100 } })
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const admin = await newAdmin(ctx)
  return { redis, ctx, base, auth: { authorization: `Token token=${admin.token}` } }
}

/** Opens a stream and answers its status; `abortAfterMs` gives up that soon after sending. */
function statusOf (url: string, headers: Record<string, string>, abortAfterMs?: number): Promise<number | 'aborted'> {
  return new Promise((resolve) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      resolve(res.statusCode ?? 0)
      res.resume()
      setTimeout(() => req.destroy(), 200)
    })
    req.on('error', () => resolve('aborted'))
    req.end()
    if (abortAfterMs !== undefined) setTimeout(() => req.destroy(), abortAfterMs)
  })
}

const openStreams = (ctx: TestContext) => ctx.app.server.getConnections.bind(ctx.app.server)

t.test('a burst of streams while Redis is slow: exactly SSE_LIMITS.maxStreams are served', async (t) => {
  const { redis, base, auth } = await served(t)
  await redis.pause(600)
  const statuses = await Promise.all(Array.from({ length: SSE_LIMITS.maxStreams + 15 }, () => statusOf(`${base}/admin/events`, auth)))
  t.equal(statuses.filter((s) => s === 200).length, SSE_LIMITS.maxStreams)
  t.equal(statuses.filter((s) => s === 503).length, 15, 'the rest are refused, however close together they came')
})

t.test('clients that give up before their stream opens leave no slot taken and nothing polling', async (t) => {
  const { redis, ctx, base, auth } = await served(t)
  await redis.pause(800)
  const gaveUp = await Promise.all(Array.from({ length: SSE_LIMITS.maxStreams }, () => statusOf(`${base}/admin/events`, auth, 100)))
  t.ok(gaveUp.every((s) => s === 'aborted'))
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.ok(await eventually(3000, async () => (await new Promise<number>((resolve) => openStreams(ctx)((_err, n) => resolve(n)))) === 0), 'every connection is closed')
  const [polls] = (await ctx.redis.info('commandstats')).match(/cmdstat_xrange:calls=(\d+)/)?.slice(1).map(Number) ?? [0]
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const [later] = (await ctx.redis.info('commandstats')).match(/cmdstat_xrange:calls=(\d+)/)?.slice(1).map(Number) ?? [0]
  t.equal(later, polls, 'no stream polls Redis for a client that has gone')
  const again = await Promise.all(Array.from({ length: SSE_LIMITS.maxStreams }, () => statusOf(`${base}/admin/events`, auth)))
  t.ok(again.every((s) => s === 200), 'all the slots are free')
})

t.test('Redis frozen under an open stream: the stream ends (the browser reconnects), nothing hangs', async (t) => {
  const { redis, base, auth } = await served(t)
  const stream = await openEventStream(`${base}/admin/events`, auth)
  t.equal(stream.status, 200)
  redis.freeze()
  t.teardown(() => redis.thaw())
  const started = Date.now()
  await stream.ended
  t.ok(Date.now() - started < 8000, 'ended within a poll and the command timeout')
  const refused = await statusOf(`${base}/admin/events`, auth)
  t.equal(refused, 503, 'a new one is refused while Redis does not answer')
  redis.thaw()
  t.ok(await eventually(10_000, async () => (await statusOf(`${base}/admin/events`, auth)) === 200), 'and served again once it does')
})

t.test('closing the app while a stream is opening does not wait for it', async (t) => {
  const { redis, ctx, base, auth } = await served(t)
  await redis.pause(500)
  const opening = openEventStream(`${base}/admin/events`, auth)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const started = Date.now()
  await ctx.app.close()
  t.ok(Date.now() - started < 5000, `closed in ${Date.now() - started} ms`)
  const stream = await opening.catch(() => null)
  if (stream) await stream.ended
})

t.test('a resume from far back sends at most EVENT_BACKLOG events, after a restart event', async (t) => {
  const { ctx, base, auth } = await served(t)
  const key = `${ctx.config.redisKeyPrefix}events`
  const pipeline = ctx.redis.pipeline()
  for (let i = 0; i < 500; i++) pipeline.xadd(key, '*', 'v', '1', 'type', 'created', 'session_id', `s${i}`, 'user_id', 'u', 'reason', '')
  await pipeline.exec()
  const stream = await openEventStream(`${base}/admin/events`, { ...auth, 'last-event-id': '1-0' })
  t.teardown(stream.close)
  await stream.waitFor((m) => m.event === 'session' && JSON.parse(m.data).session_id === 's499')
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal(stream.messages[0]?.event, 'restart', 'the client is told to start its list afresh')
  t.equal(stream.messages.filter((m) => m.event === 'session').length, EVENT_BACKLOG, 'only the latest, not the whole stream')
})

t.test('pipelined requests on connections that then close leave no slot taken', async (t) => {
  const { base, auth } = await served(t)
  const { port } = new URL(base)
  const request = `GET /admin/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: ${auth.authorization}\r\n\r\n`
  for (let i = 0; i < 3; i++) {
    const socket = connect(Number(port), '127.0.0.1')
    await once(socket, 'connect')
    // Three at once: the second and third answers wait behind the first, which never ends.
    socket.write(request.repeat(3))
    await sleep(300)
    socket.destroy()
  }
  // Each leftover finds its client gone at its next poll, a second later.
  await sleep(2500)
  const statuses = await Promise.all(Array.from({ length: SSE_LIMITS.maxStreams }, () => statusOf(`${base}/admin/events`, auth)))
  t.same(statuses.filter((s) => s !== 200), [], 'every slot is free again')
})
