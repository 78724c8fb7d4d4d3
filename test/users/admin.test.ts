import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { call, claimsOf, login, me, newAdmin, newSession } from '../helpers/http.js'
import { indexed, sessionKeyOf } from '../helpers/redis.js'

t.test('admin routes', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const member = await newSession(ctx)
  const { token: memberPhone } = await login(ctx.app, member.email)
  const sessionsUrl = `/admin/users/${member.user.id}/sessions`
  const roleUrl = `/admin/users/${member.user.id}/role`

  t.test('the role is in the session hash and in /me', async (t) => {
    t.equal(await ctx.redis.hget(sessionKeyOf(ctx, admin.token), 'role'), 'admin')
    t.equal((await me(ctx.app, `Token token=${admin.token}`)).json().user.role, 'admin')
  })

  t.test('are closed to non-admins (403) and to anonymous callers (401)', async (t) => {
    for (const [method, url, payload] of [
      ['GET', sessionsUrl, undefined],
      ['DELETE', sessionsUrl, undefined],
      ['PUT', roleUrl, { role: 'admin' }],
      ['PUT', `/admin/users/${admin.user.id}/role`, { role: 'user' }],
    ] as const) {
      const denied = await call(ctx.app, method, url, member.token, payload)
      t.equal(denied.statusCode, 403, `${method} ${url}`)
      t.same(denied.json(), { error: 'forbidden', message: 'This needs the admin role' })
      t.equal((await ctx.app.inject({ method, url, payload })).statusCode, 401)
    }
    t.equal((await me(ctx.app, `Token token=${member.token}`)).json().user.role, 'user', 'a member cannot promote themselves')
    t.equal((await me(ctx.app, `Token token=${admin.token}`)).json().user.role, 'admin', 'nor demote an admin')
  })

  t.test("GET /admin/users/:id/sessions lists another user's sessions", async (t) => {
    const res = await call(ctx.app, 'GET', sessionsUrl, admin.token)
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.match(body.user, { id: member.user.id, email: member.email, role: 'user' })
    t.same(body.sessions.map((s: { id: string }) => s.id).sort(), [claimsOf(member.token).jti, claimsOf(memberPhone).jti].sort())
    t.ok(body.sessions.every((s: { current: boolean }) => !s.current))
    t.equal((await call(ctx.app, 'GET', '/admin/users/00000000-0000-4000-8000-000000000000/sessions', admin.token)).statusCode, 404)
    t.equal((await call(ctx.app, 'GET', '/admin/users/not-a-uuid/sessions', admin.token)).statusCode, 400)
  })

  t.test('PUT /admin/users/:id/role changes the role and ends the user\'s sessions', async (t) => {
    const res = await call(ctx.app, 'PUT', roleUrl, admin.token, { role: 'admin' })
    t.equal(res.statusCode, 200)
    t.match(res.json().user, { id: member.user.id, role: 'admin' })
    t.equal((await me(ctx.app, `Token token=${member.token}`)).statusCode, 401, 'no token outlives a role change')
    t.equal((await me(ctx.app, `Token token=${memberPhone}`)).statusCode, 401)
    t.same(await indexed(ctx, member.user.id), [])

    const { token } = await login(ctx.app, member.email)
    t.equal(await ctx.redis.hget(sessionKeyOf(ctx, token), 'role'), 'admin', 'a new login carries the new role')
    t.equal((await call(ctx.app, 'GET', sessionsUrl, token)).statusCode, 200, 'and may use admin routes')

    const same = await call(ctx.app, 'PUT', roleUrl, admin.token, { role: 'admin' })
    t.equal(same.statusCode, 200)
    t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 200, 'setting the same role again ends nothing')

    t.equal((await call(ctx.app, 'PUT', roleUrl, admin.token, { role: 'user' })).statusCode, 200)
    t.equal((await call(ctx.app, 'GET', sessionsUrl, token)).statusCode, 401, 'demoted: the admin session is gone')
  })

  t.test('bad role changes', async (t) => {
    for (const payload of [{ role: 'root' }, { role: 'ADMIN' }, {}, { role: 'user', extra: true }]) {
      t.equal((await call(ctx.app, 'PUT', roleUrl, admin.token, payload)).statusCode, 400, JSON.stringify(payload))
    }
    t.equal((await call(ctx.app, 'PUT', '/admin/users/00000000-0000-4000-8000-000000000000/role', admin.token, { role: 'user' })).statusCode, 404)
    const self = await call(ctx.app, 'PUT', `/admin/users/${admin.user.id}/role`, admin.token, { role: 'user' })
    t.equal(self.statusCode, 409, 'an admin cannot demote themselves')
    t.equal((await me(ctx.app, `Token token=${admin.token}`)).json().user.role, 'admin')
  })

  t.test('DELETE /admin/users/:id/sessions logs a user out everywhere', async (t) => {
    const { token: a } = await login(ctx.app, member.email)
    const { token: b } = await login(ctx.app, member.email)
    const res = await call(ctx.app, 'DELETE', sessionsUrl, admin.token)
    t.equal(res.statusCode, 200)
    t.same(res.json(), { revoked: 2 })
    for (const token of [a, b]) t.equal((await me(ctx.app, `Token token=${token}`)).statusCode, 401)
    t.equal((await me(ctx.app, `Token token=${admin.token}`)).statusCode, 200, "the admin's own session is untouched")
    t.same((await call(ctx.app, 'DELETE', sessionsUrl, admin.token)).json(), { revoked: 0 }, 'repeating it is harmless')
  })

  t.test('a user id spelled any way but the API\'s own is refused (400) on every route, and changes nothing', async (t) => {
    // PostgreSQL matches all of these to the user, but Redis keys named with them would be other
    // keys: a role change or force-logout would miss the user's sessions.
    const target = await newAdmin(ctx)
    const spellings = (id: string) => [
      id.toUpperCase(),
      id.replace(/[a-f]/, (c) => c.toUpperCase()),
      `urn:uuid:${id}`,
      `{${id}}`,
      ` ${id}`,
      `${id} `,
      `${id}\n`,
      id.replaceAll('-', ''),
    ]
    const routes = (id: string) => [
      ['GET', `/admin/users/${encodeURIComponent(id)}/sessions`, undefined],
      ['DELETE', `/admin/users/${encodeURIComponent(id)}/sessions`, undefined],
      ['PUT', `/admin/users/${encodeURIComponent(id)}/role`, { role: 'user' }],
    ] as const
    for (const spelling of spellings(target.user.id)) {
      for (const [method, url, payload] of routes(spelling)) {
        const res = await call(ctx.app, method, url, admin.token, payload)
        t.equal(res.statusCode, 400, `${method} ${JSON.stringify(spelling)}`)
        t.equal(res.json().error, 'bad_request')
      }
    }
    t.equal((await me(ctx.app, `Token token=${target.token}`)).json().user.role, 'admin', 'the target is still an admin, still logged in')
    t.equal(await ctx.redis.hget(sessionKeyOf(ctx, target.token), 'role'), 'admin')

    // The own-role guard cannot be stepped around by spelling one's own id differently.
    for (const spelling of spellings(admin.user.id)) {
      t.equal((await call(ctx.app, 'PUT', `/admin/users/${encodeURIComponent(spelling)}/role`, admin.token, { role: 'user' })).statusCode, 400, JSON.stringify(spelling))
    }
    t.equal((await me(ctx.app, `Token token=${admin.token}`)).json().user.role, 'admin', 'the admin did not demote themselves')

    // The canonical spelling still works: demoting ends the old admin sessions at once.
    t.equal((await call(ctx.app, 'PUT', `/admin/users/${target.user.id}/role`, admin.token, { role: 'user' })).statusCode, 200)
    t.equal((await call(ctx.app, 'GET', '/admin/settings/session-ttl', target.token)).statusCode, 401, 'the demoted admin\'s session is gone')
  })
})
