import t from 'tap'
import { buildTestApp, claimsOf, me, newSession, scanKeys } from '../helpers.js'

// Pins docs/session-contract.md: other services read these keys with plain Redis commands.
t.test('a session is one Redis hash, exactly as documented', async (t) => {
  const ctx = await buildTestApp(t)
  const { token, user } = await newSession(ctx)
  const claims = claimsOf(token)
  const key = `${ctx.config.redisKeyPrefix}sess:${claims.jti}`

  t.same(await scanKeys(ctx.redis, ctx.config.redisKeyPrefix), [key], 'one key per session, <prefix>sess:<jti>')
  t.equal(await ctx.redis.type(key), 'hash')

  const hash = await ctx.redis.hgetall(key)
  t.same(Object.keys(hash).sort(), ['created_at', 'last_seen_at', 'max_expires_at', 'user_id', 'v'])
  t.equal(hash.v, '1', 'layout version 1')
  t.equal(hash.user_id, user.id)
  t.equal(hash.created_at, String(claims.created_at), 'created_at is the token claim, Unix ms')
  t.equal(hash.max_expires_at, String((claims.exp as number) * 1000), 'max_expires_at is exp in ms')
  t.match(hash.last_seen_at, /^\d{13}$/, 'plain integer milliseconds')
  t.ok(Number(hash.last_seen_at) >= Number(hash.created_at))

  const ttl = await ctx.redis.pttl(key)
  t.ok(ttl > 0 && ttl <= ctx.config.sessionTtlSeconds * 1000, 'TTL is the sliding window')

  t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200)
  t.same(Object.keys(await ctx.redis.hgetall(key)).sort(), Object.keys(hash).sort(), 'a touch adds no field')

  const everything = JSON.stringify(await Promise.all((await scanKeys(ctx.redis, ctx.config.redisKeyPrefix)).map(async (k) => [k, await ctx.redis.hgetall(k)])))
  t.notOk(everything.includes(token), 'the raw token is nowhere in Redis')
  t.notOk(everything.includes(token.split('.')[2]!), 'nor its signature')
})
