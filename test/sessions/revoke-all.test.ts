import t from 'tap'
import { addSessions, buildTestApp, storeOf } from '../helpers/app.js'
import { call, login, me, newAdmin, newSession, signUp } from '../helpers/http.js'
import { keysOf, scanKeys, streamEvents } from '../helpers/redis.js'

// Revoke-all at the level of the store (src/sessions/store.ts): the cutoff that refuses every
// session at once, and the sweep that deletes their keys a bounded batch at a time. Runs on the
// Redis Cluster too (npm run test:cluster): every batch stays in the user's slot.

t.test('a cutoff refuses every session of the user at once, before any key is deleted', async (t) => {
  const ctx = await buildTestApp(t)
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  const other = await signUp(ctx.app, ctx.email())
  const ids = await addSessions(store, user, 5)
  const [otherId] = await addSessions(store, other, 1)
  const keys = keysOf(ctx)

  await store.cutOff(user.id)
  for (const id of ids) {
    t.equal(await store.touch(id, user.id), null, 'touch refuses it')
    t.equal(await store.peek(id, user.id), null, 'introspection says inactive')
    t.equal(await ctx.redis.exists(keys.session(user.id, id)), 1, 'its hash is still there (the sweep deletes it)')
  }
  t.same((await store.list(user.id)).sessions, [], 'the listing shows none')
  t.ok(await store.touch(otherId!, other.id), "another user's session is untouched")

  const before = await ctx.redis.pttl(keys.session(user.id, ids[0]!))
  await store.touch(ids[0]!, user.id)
  t.ok((await ctx.redis.pttl(keys.session(user.id, ids[0]!))) <= before, 'a refused session is never extended')

  t.equal(await store.revokeAll(user.id, { reason: 'admin' }), 5, 'the sweep deletes the five')
  for (const id of ids) {
    t.equal(await ctx.redis.exists(keys.session(user.id, id), keys.owner(user.id, id)), 0, 'hash and owner key are gone')
  }
  t.same(await ctx.redis.zrange(keys.index(user.id), '0', '-1'), [], 'and the index is empty')
  const revoked = (await streamEvents(ctx)).filter((e) => e.type === 'revoked' && e.user_id === user.id)
  t.same(revoked.map((e) => e.session_id).sort(), [...ids].sort(), 'one revoked event each')
  t.ok(revoked.every((e) => e.reason === 'admin'), 'with the reason given')
})

t.test('keep: the caller\'s own session survives its revoke-all, and only a live one can be kept', async (t) => {
  const ctx = await buildTestApp(t)
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  const [mine, ...others] = await addSessions(store, user, 4)

  t.equal(await store.revokeAll(user.id, { reason: 'revoke-all', keep: mine }), 3)
  t.ok(await store.touch(mine!, user.id), 'the kept session works')
  for (const id of others) t.equal(await store.touch(id, user.id), null)
  t.same((await store.list(user.id)).sessions.map((s) => s.id), [mine], 'and is the only one listed')
  t.equal(await ctx.redis.hget(keysOf(ctx).session(user.id, mine!), 'generation'), await ctx.redis.get(keysOf(ctx).cutoff(user.id)), 'it carries the new generation, the user\'s cutoff')

  t.equal(await store.revokeAll(user.id, { reason: 'revoke-all', keep: mine }), 0, 'again: nothing else to end')
  t.ok(await store.touch(mine!, user.id), 'kept a second time')

  // A session a revoke-all has ended cannot be "kept" by a later one: that would bring it back.
  const [late] = await addSessions(store, user, 1)
  await store.cutOff(user.id)
  t.equal(await store.revokeAll(user.id, { reason: 'revoke-all', keep: late }), 2, 'both end: `late` was already cut off')
  t.equal(await store.touch(late!, user.id), null, 'and stays ended')
  t.equal(await store.touch(mine!, user.id), null)
})

t.test('sessions created after a cutoff are not its to end', async (t) => {
  const ctx = await buildTestApp(t)
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  const [old] = await addSessions(store, user, 1)
  await store.cutOff(user.id)
  const [fresh] = await addSessions(store, user, 1)
  t.equal(await store.touch(old!, user.id), null)
  t.ok(await store.touch(fresh!, user.id), 'a login after the cutoff (it read the new generation) works')
  t.same((await store.list(user.id)).sessions.map((s) => s.id), [fresh])
})

t.test('a session written before sessions carried a generation is judged by its creation time', async (t) => {
  const ctx = await buildTestApp(t)
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  const [legacy] = await addSessions(store, user, 1)
  await ctx.redis.hdel(keysOf(ctx).session(user.id, legacy!), 'generation')
  t.ok(await store.touch(legacy!, user.id), 'it works as before')
  await store.cutOff(user.id)
  t.equal(await store.touch(legacy!, user.id), null, 'and a revoke-all after its creation ends it')
  t.equal(await store.revokeAll(user.id, { reason: 'admin' }), 1, 'and the sweep deletes it')
})

t.test('the cutoff outlives every session it ended', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_AGE_SECONDS: String(5 * 24 * 3600) })
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  await addSessions(store, user, 2)
  await store.cutOff(user.id)
  const keys = keysOf(ctx)
  const cutoff = await ctx.redis.pttl(keys.cutoff(user.id))
  t.ok(cutoff > 5 * 24 * 3600 * 1000 - 60_000, 'as long as a session can live (SESSION_MAX_AGE_SECONDS), whatever the index says')
  t.ok((await ctx.redis.pttl(keys.generation(user.id))) > 23 * 3600 * 1000, 'and the generation a day, for logins in flight')

  // With a TTL beyond the absolute lifetime set here, the index may outlive it: the cutoff follows.
  await ctx.redis.pexpire(keys.index(user.id), 9 * 24 * 3600 * 1000)
  await store.cutOff(user.id)
  t.ok((await ctx.redis.pttl(keys.cutoff(user.id))) > 8 * 24 * 3600 * 1000, 'and as long as the index, if that is longer')
})

t.test('an upgrade ends nothing: sessions the previous release kept stay live', async (t) => {
  // The previous release wrote only the generation (for logins in flight) at a revoke-all, and
  // kept the caller's session without marking it. Its generation is not a cutoff.
  const ctx = await buildTestApp(t)
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  const [kept] = await addSessions(store, user, 1)
  await ctx.redis.hdel(keysOf(ctx).session(user.id, kept!), 'generation')
  await ctx.redis.set(keysOf(ctx).generation(user.id), `${Date.now() + 1000}000`, 'PX', 24 * 3600 * 1000)
  t.ok(await store.touch(kept!, user.id), 'the session that release kept still works')
  t.same((await store.list(user.id)).sessions.map((s) => s.id), [kept])
})

t.test('the sweep ends a thousand sessions in bounded batches, and spares what it must', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '0' })
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  const ids = await addSessions(store, user, 1000)
  const keep = ids[500]!
  t.equal(await store.revokeAll(user.id, { reason: 'revoke-all', keep }), 999)
  const left = await scanKeys(ctx.redis, `${ctx.config.redisKeyPrefix}sess:`)
  t.same(left, [keysOf(ctx).session(user.id, keep)], 'only the kept session\'s hash is left')
  t.same(await ctx.redis.zrange(keysOf(ctx).index(user.id), '0', '-1'), [keep])
  t.equal((await streamEvents(ctx)).filter((e) => e.type === 'revoked').length, 999, 'one event per session ended')
})

t.test('a sweep that fails part-way never fails the revoke-all: the sessions are over all the same', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const { email, user, token } = await newSession(ctx)
  const { token: other } = await login(ctx.app, email)
  // The index stops being a sorted set (as if damaged): the sweep's first read of it fails.
  const index = keysOf(ctx).index(user.id)
  await ctx.redis.del(index)
  await ctx.redis.set(index, 'not a sorted set')
  const res = await call(ctx.app, 'DELETE', `/admin/users/${user.id}/sessions`, admin.token)
  t.equal(res.statusCode, 200, 'answered: the cutoff, which is the revocation, went through')
  t.same(res.json(), { revoked: 0 }, 'no key could be deleted')
  for (const each of [token, other]) t.equal((await me(ctx.app, `Token token=${each}`)).statusCode, 401, 'and yet the session is over')
  const metrics = (await ctx.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /gatehouse_revocation_sweeps_stopped_total 1/, 'counted for ops')
})
