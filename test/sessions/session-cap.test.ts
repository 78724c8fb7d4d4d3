import t from 'tap'
import { buildTestApp, claimsOf, indexed, login, me, newSession, sessionKeyOf, sleep } from '../helpers.js'

t.test('SESSION_MAX_PER_USER: a login beyond the cap ends the least recently used session', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '2' })
  const { email, token: first, user } = await newSession(ctx)
  const { token: second } = await login(ctx.app, email)
  await sleep(5)
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
  const ctx = await buildTestApp(t)
  const { email, user } = await newSession(ctx)
  for (let i = 0; i < 9; i++) await login(ctx.app, email)
  t.equal((await indexed(ctx, user.id)).length, 10)
})
