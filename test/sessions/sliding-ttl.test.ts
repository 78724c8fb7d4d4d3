import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { claimsOf, me, newSession } from '../helpers/http.js'
import { sessionKeyOf } from '../helpers/redis.js'
import { sleep } from '../helpers/wait.js'

t.test('the TTL slides with every authenticated request', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '2' })
  const { token } = await newSession(ctx)
  const key = sessionKeyOf(ctx, token)
  const auth = `Token token=${token}`

  const initial = await ctx.redis.pttl(key)
  t.ok(initial > 1500 && initial <= 2000, `starts at the TTL (${initial} ms)`)
  const createdSeen = Number(await ctx.redis.hget(key, 'last_seen_at'))

  // Sleeps in this file: the time passing is what the TTL is measured against.
  await sleep(1200)
  const beforeTouch = await ctx.redis.pttl(key)
  t.ok(beforeTouch > 0 && beforeTouch <= 800, `counts down while idle (${beforeTouch} ms)`)

  t.equal((await me(ctx.app, auth)).statusCode, 200)
  const afterTouch = await ctx.redis.pttl(key)
  t.ok(afterTouch > 1500 && afterTouch <= 2000, `a request resets it (${afterTouch} ms)`)
  const lastSeen = Number(await ctx.redis.hget(key, 'last_seen_at'))
  t.ok(lastSeen >= createdSeen + 1000, 'and records last_seen_at')

  // Kept alive past the original TTL by activity alone.
  await sleep(1200)
  t.equal((await me(ctx.app, auth)).statusCode, 200, 'alive 2.4 s after login thanks to the slide')

  await sleep(2300)
  t.equal(await ctx.redis.exists(key), 0, 'idle longer than the TTL: Redis dropped it')
  const res = await me(ctx.app, auth)
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'session_expired')
  t.equal(await ctx.redis.exists(key), 0, 'the failed request did not recreate it')
})

t.test('the TTL never reaches past the absolute lifetime', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: '3', SESSION_MAX_AGE_SECONDS: '4' })
  const { token } = await newSession(ctx)
  const claims = claimsOf(token)
  const key = sessionKeyOf(ctx, token)
  const maxExpiresAt = Number(await ctx.redis.hget(key, 'max_expires_at'))
  t.equal(maxExpiresAt, (claims.exp as number) * 1000, 'max_expires_at is the token exp')

  await sleep(1500) // past the point where a full slide would cross max_expires_at
  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
  const [seconds, micros] = await ctx.redis.time()
  const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  const pttl = await ctx.redis.pttl(key)
  t.ok(pttl <= maxExpiresAt - redisNow + 5, `TTL ${pttl} ms is capped by the ${maxExpiresAt - redisNow} ms left`)
  t.ok(pttl < 3000, 'shorter than the sliding window')

  await sleep(Math.max(0, maxExpiresAt - Date.now()) + 300) // until past exp
  const res = await me(ctx.app, `Token token=${token}`)
  t.equal(res.statusCode, 401, 'past exp, however active')
  t.equal(res.json().error, 'session_expired')
})
