import { createSessionReader } from '@gatehouse/session-reader'
import t from 'tap'
import { buildTestApp, storeOf } from '../helpers/app.js'
import { TEST_JWT_PUBLIC_KEY } from '../helpers/config.js'
import { call, claimsOf, login, newAdmin, newSession } from '../helpers/http.js'
import { indexed, sessionKeyOf } from '../helpers/redis.js'

// One liveness rule (session-state.lua) for every script that asks "is this session live", and
// readers that decide as Gatehouse does at every moment, the TTL ops just changed included.

t.test('a session hash without an expiry (a stray write recreated it) is gone for every script and every reader', async (t) => {
  const credential = 'liveness-rule-introspection-credential-00000'
  const ctx = await buildTestApp(t, { INTROSPECTION_TOKENS: credential })
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { publicKeys: [TEST_JWT_PUBLIC_KEY] } })
  const { token: keeper, email, user } = await newSession(ctx)
  const { token: stray } = await login(ctx.app, email)
  const strayKey = sessionKeyOf(ctx, stray)
  const strayId = claimsOf(stray).jti as string
  t.equal((await call(ctx.app, 'GET', '/me', stray)).statusCode, 200, 'the control: live while it has its expiry')

  // The hash stays, every field intact, but its expiry is gone.
  t.equal(await ctx.redis.persist(strayKey), 1)
  const introspect = async () => (await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${credential}` }, payload: { token: stray } })).json().active
  t.equal(await introspect(), false, 'peek-session-2.lua (POST /introspect): not active')
  t.match(await reader.read(stray), { live: false, reason: 'no_session' }, 'the reader library: no_session')
  const listed = (await call(ctx.app, 'GET', '/sessions', keeper)).json().sessions.map((s: { id: string }) => s.id)
  t.notOk(listed.includes(strayId), 'list-sessions-n.lua (GET /sessions): not listed')
  t.notOk((await indexed(ctx, user.id)).includes(strayId), 'and its index entry is pruned')
  const me = await call(ctx.app, 'GET', '/me', stray)
  t.equal(me.statusCode, 401, 'touch-session-6.lua (GET /me): refused')
  t.equal(me.json().error, 'session_expired')
  t.equal(await ctx.redis.pttl(strayKey), -1, 'and never given an expiry again: touch writes nothing to it')

  // revoke-all of the others: its sweep deletes the stray hash, which would never expire by itself.
  await ctx.redis.zadd(`${ctx.config.redisKeyPrefix}user:{${user.id}}:sessions`, String(Date.now() + 60_000), strayId)
  const revoked = await call(ctx.app, 'DELETE', '/sessions', keeper)
  t.equal(revoked.statusCode, 200)
  t.equal(await ctx.redis.exists(strayKey), 0, 'end-revoked-sessions-n.lua: the stray hash is deleted')
  t.equal((await call(ctx.app, 'GET', '/me', keeper)).statusCode, 200, 'the session that asked is kept')
})

t.test('revoke-all keeps the session it is asked to keep only if it is live: a stray hash is not kept', async (t) => {
  const ctx = await buildTestApp(t)
  const store = await storeOf(t, ctx)
  const { token, user, email } = await newSession(ctx)
  const { token: other } = await login(ctx.app, email)
  const key = sessionKeyOf(ctx, token)
  await ctx.redis.persist(key)
  // As if the request that asked had read its session just before a stray write took the expiry.
  await store.revokeAll(user.id, { reason: 'revoke-all', keep: claimsOf(token).jti as string })
  t.equal(await ctx.redis.exists(key), 0, 'the stray hash was not kept (no generation written to it), and the sweep deleted it')
  t.equal((await call(ctx.app, 'GET', '/me', other)).statusCode, 401, 'the other session was revoked')
})

t.test('a reader never accepts a session Gatehouse already refuses after ops shorten the TTL, even at once and in parallel', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { publicKeys: [TEST_JWT_PUBLIC_KEY] }, defaultTtlSeconds: ctx.config.sessionTtlSeconds })
  const { token } = await newSession(ctx)
  // Warm: the reader has read the (default) TTL in force before.
  t.match(await reader.read(token), { live: true })
  // Idle for 4 s, then ops set 3 s.
  await ctx.redis.hset(sessionKeyOf(ctx, token), 'last_seen_at', String(Date.now() - 4000))
  const set = await call(ctx.app, 'PUT', '/admin/settings/session-ttl', admin.token, { ttl_seconds: 3 })
  t.equal(set.statusCode, 200, set.body)
  const reads = await Promise.all(Array.from({ length: 50 }, () => reader.read(token)))
  t.equal(reads.filter((r) => r.live).length, 0, 'none of 50 concurrent reads right after the change accepts it')
  t.ok(reads.every((r) => !r.live && r.reason === 'idle'), 'each says idle')
  const me = await call(ctx.app, 'GET', '/me', token)
  t.equal(me.statusCode, 401, 'Gatehouse refuses it too')
  t.equal(me.json().error, 'session_expired')
})
