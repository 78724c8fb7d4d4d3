import t from 'tap'
import { call, claimsOf, login, newAdmin, signUp } from '../helpers/http.js'
import { keysOf, scanKeys } from '../helpers/redis.js'
import { expectBounded, MANY, manySessions } from './many-sessions.js'

// 100,000 sessions of one user: listing them is a page at a time (newest first, by the creation
// index), also when an older release wrote them all (the listing then adds them to that index), and
// an admin's force-logout ends them all, without any Redis command growing with their number.

t.test(`a user with ${MANY} sessions: listing and an admin's force-logout`, async (t) => {
  const world = await manySessions(t)
  const { ctx } = world
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  await world.populate(user)
  const { token } = await login(ctx.app, email)
  const admin = await newAdmin(ctx)

  let pages: { sessions: { id: string }[]; next_cursor: string | null }[] = []
  expectBounded(t, await world.watch(async () => {
    const first = (await call(ctx.app, 'GET', '/sessions', token)).json()
    const second = (await call(ctx.app, 'GET', `/sessions?cursor=${encodeURIComponent(first.next_cursor)}`, token)).json()
    const byAdmin = (await call(ctx.app, 'GET', `/admin/users/${user.id}/sessions?limit=50`, admin.token)).json()
    pages = [first, second, byAdmin]
  }), 'GET /sessions, twice, and the admin listing')
  const [first, second, byAdmin] = pages
  t.equal(first!.sessions.length, 100, 'a page of 100')
  t.equal(first!.sessions[0]!.id, claimsOf(token).jti, 'the caller\'s own session first')
  t.equal(second!.sessions.length, 100, 'and the next 100')
  t.equal(new Set([...first!.sessions, ...second!.sessions].map((s) => s.id)).size, 200, 'none of them twice')
  t.equal(byAdmin!.sessions.length, 50)
  t.type(byAdmin!.next_cursor, 'string')
  t.same(byAdmin!.sessions[0]!.id, claimsOf(token).jti, 'the admin listing: the newest session first')

  // As the release before the creation index left them: every session in the index alone.
  const created = keysOf(ctx).created(user.id)
  await ctx.redis.unlink(created)
  let listings = 0
  expectBounded(t, await world.watch(async () => {
    while ((await ctx.redis.zcard(created)) < MANY + 1 && listings < 10) {
      listings++
      t.equal((await call(ctx.app, 'GET', '/sessions?limit=10', token)).statusCode, 200)
    }
  }), 'listing sessions an older release wrote')
  t.equal(await ctx.redis.zcard(created), MANY + 1, `after ${listings} listing(s), the creation index holds every session again`)
  const again = (await call(ctx.app, 'GET', '/sessions?limit=3', token)).json()
  t.same(again.sessions.map((s: { id: string }) => s.id), first!.sessions.slice(0, 3).map((s) => s.id), 'in the same order as before')

  let revoked = -1
  expectBounded(t, await world.watch(async () => {
    const res = await call(ctx.app, 'DELETE', `/admin/users/${user.id}/sessions`, admin.token)
    t.equal(res.statusCode, 200)
    revoked = res.json().revoked
  }), 'DELETE /admin/users/:id/sessions')
  t.equal(revoked, MANY + 1, 'every session ended and counted')
  t.equal((await call(ctx.app, 'GET', '/me', token)).statusCode, 401)
  t.same((await scanKeys(ctx.redis, `${ctx.config.redisKeyPrefix}sess:{${user.id}}`)), [], 'no session key of the user is left')
  t.equal(await ctx.redis.exists(keysOf(ctx).index(user.id)), 0, 'nor the index')
  t.equal(await ctx.redis.exists(created), 0, 'nor the creation index')
})
