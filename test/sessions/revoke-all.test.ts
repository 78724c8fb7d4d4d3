import t from 'tap'
import { addSessions, buildTestApp, keysOf, scanKeys, signUp, storeOf, streamEvents } from '../helpers.js'

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
  t.equal(await ctx.redis.hget(keysOf(ctx).session(user.id, mine!), 'generation'), await ctx.redis.get(keysOf(ctx).generation(user.id)), 'it carries the new generation')

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

t.test('the generation outlives every session it cut off', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_TTL_SECONDS: String(3 * 24 * 3600) })
  const store = await storeOf(t, ctx)
  const user = await signUp(ctx.app, ctx.email())
  await addSessions(store, user, 2)
  await store.cutOff(user.id)
  const keys = keysOf(ctx)
  const [generation, index] = await Promise.all([ctx.redis.pttl(keys.generation(user.id)), ctx.redis.pttl(keys.index(user.id))])
  t.ok(index > 2 * 24 * 3600 * 1000, 'the sessions can live three days')
  t.ok(generation >= index, 'so the cutoff is kept for as long')

  const quiet = await signUp(ctx.app, ctx.email())
  await store.cutOff(quiet.id)
  t.ok((await ctx.redis.pttl(keys.generation(quiet.id))) > 23 * 3600 * 1000, 'and at least a day, for logins in flight')
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
