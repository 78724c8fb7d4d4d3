import t from 'tap'
import { addSessions, buildTestApp, storeOf } from '../helpers/app.js'
import { claimsOf, login, me, newSession, PASSWORD, signUp } from '../helpers/http.js'
import { indexed, keysOf, sessionKeyOf } from '../helpers/redis.js'
import { sleep } from '../helpers/wait.js'
import { TOUCH_WRITE_INTERVAL_MS } from '../../src/sessions/scripts/index.js'

t.test('SESSION_MAX_PER_USER: a login beyond the cap ends the least recently used session', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '2' })
  const { email, token: first, user } = await newSession(ctx)
  const { token: second } = await login(ctx.app, email)
  // Past the write interval: a session's use is written at most once a second (the contract's last_seen_at).
  await sleep(TOUCH_WRITE_INTERVAL_MS + 50)
  t.equal((await me(ctx.app, `Token token=${first}`)).statusCode, 200, 'first is now the more recently used')

  const { token: third } = await login(ctx.app, email)
  t.equal((await me(ctx.app, `Token token=${second}`)).statusCode, 401, 'second, idle the longest, was ended')
  t.equal((await me(ctx.app, `Token token=${first}`)).statusCode, 200)
  t.equal((await me(ctx.app, `Token token=${third}`)).statusCode, 200)
  t.same((await indexed(ctx, user.id)).sort(), [claimsOf(first).jti, claimsOf(third).jti].sort())

  const other = await newSession(ctx)
  t.equal((await me(ctx.app, `Token token=${other.token}`)).statusCode, 200, 'the cap is per user')
})

t.test('a session whose hash vanished (e.g. maxmemory eviction) does not count against the cap', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '2' })
  const { email, token: first } = await newSession(ctx)
  const { token: second } = await login(ctx.app, email)
  await ctx.redis.del(sessionKeyOf(ctx, first))
  await login(ctx.app, email)
  t.equal((await me(ctx.app, `Token token=${second}`)).statusCode, 200, 'the live session was kept; the ghost entry went')
})

t.test('0 means no limit', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const { email, user } = await newSession(ctx)
  for (let i = 0; i < 9; i++) await login(ctx.app, email)
  t.equal((await indexed(ctx, user.id)).length, 10)
})

t.test('by default a user keeps at most 100 sessions', async (t) => {
  const ctx = await buildTestApp(t)
  t.equal(ctx.config.sessionMaxPerUser, 100)
  const user = await signUp(ctx.app, ctx.email())
  const store = await storeOf(t, ctx)
  const [first] = await addSessions(store, user, 1)
  // Expiry scores are whole milliseconds and ties go by id, so the first must be older than the rest
  // for "least recently used" to name it.
  await sleep(5)
  await addSessions(store, user, 100, 1)
  t.equal((await indexed(ctx, user.id)).length, 100, 'the 101st login ended the first')
  t.notOk((await indexed(ctx, user.id)).includes(first!))
})

t.test('a cap lowered far below a user\'s count is reached over the next logins, 100 at most per login', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const user = await signUp(ctx.app, ctx.email())
  await addSessions(await storeOf(t, ctx), user, 150)
  const capped = await storeOf(t, { config: { ...ctx.config, sessionMaxPerUser: 10 } })
  const login = async () => (await capped.create({ userId: user.id, role: 'user', email: user.email, userCreatedAt: 0, device: { client: '', userAgent: '', ip: '' }, generation: await capped.generation(user.id) }))!
  t.equal((await login()).evicted.length, 100, 'the first login ends the 100 least recently used: the work of one call is bounded')
  t.equal((await indexed(ctx, user.id)).length, 51)
  t.equal((await login()).evicted.length, 42, 'the next one the rest above the cap')
  t.equal((await indexed(ctx, user.id)).length, 10)
  t.equal((await login()).evicted.length, 1, 'and from then on one per login')
})

t.test('a backlog of expired index entries does not fail a login at the cap', async (t) => {
  // Entries of sessions that ran out long ago (their hashes gone), more than one login prunes:
  // they neither count against the cap nor are picked to be evicted.
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '100' })
  const { email, user, token } = await newSession(ctx)
  const past = Date.now() - 60_000
  const stale = Array.from({ length: 1500 }, (_, i) => [String(past - i), `expired${String(i).padStart(15, '0')}`]).flat()
  await ctx.redis.zadd(keysOf(ctx).index(user.id), ...stale)
  for (let i = 0; i < 3; i++) t.equal((await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: PASSWORD } })).statusCode, 201, `login ${i + 1}`)
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'and no live session was evicted for them')
})
