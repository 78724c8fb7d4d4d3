import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildTestApp, captureLogs } from '../helpers/app.js'
import { call, login, newAdmin, newSession, PASSWORD } from '../helpers/http.js'
import { sleep } from '../helpers/wait.js'

// The admin API for client policies (docs/api.md; docs/ops.md, "Client policies"): a client's own
// idle window and maximum age, set and reset live, and all of a client's sessions ended at once.

const DAY = 86_400
const MAX_AGE = 30 * DAY

/** A login that binds the token to `audience` (JWT-Aud), as an app of that client logs in. */
async function loginAs (app: FastifyInstance, email: string, audience?: string) {
  const res = await app.inject({ method: 'POST', url: '/sessions', headers: audience === undefined ? {} : { 'jwt-aud': audience }, payload: { email, password: PASSWORD } })
  if (res.statusCode !== 201) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json() as { token: string, idle_timeout_seconds: number }
}

/** GET /me as that client's app sends it: the token, and its audience on every request. */
const meAs = (app: FastifyInstance, token: string, audience?: string) =>
  app.inject({ url: '/me', headers: { authorization: `Token token=${token}`, ...(audience === undefined ? {} : { 'jwt-aud': audience }) } })

t.test('client policies: listed with the TTL, set and reset per client, with who did it; admins only', async (t) => {
  const logs = captureLogs('info')
  const ctx = await buildTestApp(t, { SESSION_MAX_AGE_SECONDS: String(MAX_AGE) }, { logger: logs.logger })
  const admin = await newAdmin(ctx)
  const by = `admin ${admin.email} (${admin.user.id})`
  const get = () => call(ctx.app, 'GET', '/admin/settings/session-ttl', admin.token)

  t.same((await get()).json().clients, [], 'no client has a policy of its own at first')

  const set = await call(ctx.app, 'PUT', '/admin/settings/clients/ios', admin.token, { idle_timeout_seconds: 14 * DAY, max_age_seconds: 21 * DAY })
  t.equal(set.statusCode, 200)
  t.match(set.json(), { client: 'ios', idle_timeout_seconds: 14 * DAY, max_age_seconds: 21 * DAY, ended_before: null, set_by: by, set_at: /^\d{4}-\d\d-\d\dT/ })
  t.same(Object.keys(set.json()).sort(), ['client', 'ended_before', 'idle_timeout_seconds', 'max_age_seconds', 'set_at', 'set_by'])
  t.ok(logs.lines.some((line) => /"msg":"client policy changed"/.test(line) && line.includes(`"by":"${by}"`) && line.includes('"client":"ios"') && line.includes(`"newIdleSeconds":${14 * DAY}`)), 'the change is logged with who made it')

  const noMaxAge = await call(ctx.app, 'PUT', '/admin/settings/clients/ios', admin.token, { idle_timeout_seconds: 7 * DAY })
  t.match(noMaxAge.json(), { client: 'ios', idle_timeout_seconds: 7 * DAY, max_age_seconds: null }, 'without max_age_seconds: SESSION_MAX_AGE_SECONDS (null), not the one set before')
  t.match((await call(ctx.app, 'PUT', '/admin/settings/clients/ios', admin.token, { idle_timeout_seconds: 7 * DAY, max_age_seconds: null })).json(), { max_age_seconds: null }, 'null is the same, so a listed policy can be sent back as it is')

  // Audiences may hold / and :, URL-encoded in the path (or : as it is).
  const slash = await call(ctx.app, 'PUT', '/admin/settings/clients/ios%2Fbeta', admin.token, { idle_timeout_seconds: 3600 })
  t.equal(slash.statusCode, 200, slash.body)
  t.equal(slash.json().client, 'ios/beta')
  t.equal((await call(ctx.app, 'PUT', '/admin/settings/clients/urn:app%3Aandroid', admin.token, { idle_timeout_seconds: 600 })).json().client, 'urn:app:android')
  t.same((await get()).json().clients.map((c: { client: string }) => c.client), ['ios', 'ios/beta', 'urn:app:android'], 'listed by name')
  t.match((await get()).json(), { ttl_seconds: 1200, source: 'default' }, 'the global TTL is untouched')

  const reset = await call(ctx.app, 'DELETE', '/admin/settings/clients/ios%2Fbeta', admin.token)
  t.equal(reset.statusCode, 200)
  t.same(reset.json(), { client: 'ios/beta', idle_timeout_seconds: null, max_age_seconds: null, ended_before: null, set_by: null, set_at: null }, 'back to the global policy: nothing of its own')
  t.ok(logs.lines.some((line) => /"msg":"client policy changed"/.test(line) && line.includes('"client":"ios/beta"') && line.includes('"newIdleSeconds":null')), 'a reset is logged too')
  t.same((await get()).json().clients.map((c: { client: string }) => c.client), ['ios', 'urn:app:android'])
  t.equal((await call(ctx.app, 'DELETE', '/admin/settings/clients/never-set', admin.token)).statusCode, 200, 'resetting a client without a policy changes nothing, and is no error')

  const { token: userToken } = await newSession(ctx)
  const routes: Array<['GET' | 'PUT' | 'DELETE', string]> = [
    ['GET', '/admin/settings/session-ttl'], ['PUT', '/admin/settings/clients/ios'], ['DELETE', '/admin/settings/clients/ios'], ['DELETE', '/admin/clients/ios/sessions'],
  ]
  for (const [method, url] of routes) {
    t.equal((await call(ctx.app, method, url, userToken, method === 'PUT' ? { idle_timeout_seconds: 60 } : undefined)).statusCode, 403, `${method} ${url}: not for a user`)
    t.equal((await ctx.app.inject({ method, url, ...(method === 'PUT' ? { payload: { idle_timeout_seconds: 60 } } : {}) })).statusCode, 401, `${method} ${url}: not without a session`)
  }
  t.match((await get()).json().clients[0], { client: 'ios', idle_timeout_seconds: 7 * DAY, set_by: by }, 'nothing a user or a stranger sent changed it')
})

t.test('bad policies and bad client names are a 400 with the reason; nothing is stored', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_AGE_SECONDS: String(MAX_AGE) })
  const admin = await newAdmin(ctx)
  const put = (client: string, body: unknown) => ctx.app.inject({ method: 'PUT', url: `/admin/settings/clients/${client}`, headers: { authorization: `Token token=${admin.token}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) })

  const bodies: Array<[unknown, RegExp, string]> = [
    [{ idle_timeout_seconds: 0 }, /must be >= 1/, 'an idle window of 0'],
    [{ idle_timeout_seconds: 60, max_age_seconds: 0 }, /must be >= 1/, 'a maximum age of 0'],
    [{ idle_timeout_seconds: -5 }, /must be >= 1/, 'negative'],
    [{ idle_timeout_seconds: 1.5 }, /must be integer/, 'not a whole number'],
    [{ idle_timeout_seconds: '60' }, /must be integer/, 'a string'],
    [{ idle_timeout_seconds: 60, max_age_seconds: 90.5 }, /must be integer/, 'a maximum age not a whole number'],
    [{ idle_timeout_seconds: 7200, max_age_seconds: 3600 }, /the idle window must not exceed the client's maximum age \(1h \(3600 s\); got 2h \(7200 s\)\)/, 'idle window longer than the maximum age'],
    [{ idle_timeout_seconds: 60, max_age_seconds: MAX_AGE + 1 }, /body\/max_age_seconds must not exceed the absolute session lifetime, SESSION_MAX_AGE_SECONDS \(30d \(2592000 s\)\)/, 'maximum age past SESSION_MAX_AGE_SECONDS'],
    [{ idle_timeout_seconds: MAX_AGE + 1 }, /must not exceed the absolute session lifetime, SESSION_MAX_AGE_SECONDS/, 'idle window past SESSION_MAX_AGE_SECONDS'],
    [{ idle_timeout_seconds: 1e20 }, /must not exceed/, 'a huge number'],
    [{ idle_timeout_seconds: 60, client: 'web' }, /must NOT have additional properties/, 'an unknown field'],
    [{ ttl_seconds: 60 }, /must have required property 'idle_timeout_seconds'/, 'the global route\'s field'],
    [{}, /idle_timeout_seconds/, 'empty'],
    [[60], /must be object/, 'an array'],
    [null, /./, 'null'],
  ]
  for (const [body, message, why] of bodies) {
    const res = await put('ios', body)
    t.equal(res.statusCode, 400, `${why}: ${res.body}`)
    t.equal(res.json().error, 'bad_request', why)
    t.match(res.json().message, message, why)
  }

  const names: Array<[string, string]> = [
    ['-ios', 'starting with -'], ['.hidden', 'starting with .'], ['a%20b', 'a space'], ['ios%00', 'a NUL'], ['ios%0A', 'a newline'],
    ['%C3%A9', 'not ASCII'], ['a%2Cb', 'a comma'],
  ]
  for (const [name, why] of names) {
    for (const res of [await put(name, { idle_timeout_seconds: 60 }), await call(ctx.app, 'DELETE', `/admin/settings/clients/${name}`, admin.token), await call(ctx.app, 'DELETE', `/admin/clients/${name}/sessions`, admin.token)]) {
      t.equal(res.statusCode, 400, `${why}: ${res.body}`)
      t.equal(res.json().error, 'bad_request', why)
    }
  }
  // Refused by the router before the route (Fastify's own answer, a 400 all the same).
  t.equal((await put('%E0%A4%A', { idle_timeout_seconds: 60 })).statusCode, 400, 'malformed percent-encoding')
  t.same((await call(ctx.app, 'GET', '/admin/settings/session-ttl', admin.token)).json().clients, [], 'nothing was stored')
  t.same(Object.keys(await ctx.redis.hgetall(`${ctx.config.redisKeyPrefix}config`)).filter((field) => field.startsWith('client_')), [])

  // An audience may be 128 characters, each %XX-encoded in a path: past the router's default
  // maxParamLength (100), which answers 414 before the route is reached.
  t.test('names up to 128 characters (384 encoded) reach the route', async (t) => {
    const longest = `${'a'.repeat(64)}${'/'.repeat(64)}`
    const res = await put(encodeURIComponent(longest), { idle_timeout_seconds: 60 })
    t.equal(res.statusCode, 200, `the longest name an audience may have: ${res.body}`)
    t.equal(res.json().client, longest)
    const tooLong = await put('a'.repeat(129), { idle_timeout_seconds: 60 })
    t.equal(tooLong.statusCode, 400, '129 characters')
    t.equal(tooLong.json().error, 'bad_request')
  })
})

t.test('what someone wrote into the config hash by hand is shown as it is read, never a 500', async (t) => {
  const ctx = await buildTestApp(t)
  const admin = await newAdmin(ctx)
  const config = `${ctx.config.redisKeyPrefix}config`
  await ctx.redis.hset(config, 'client_ended_before:web', 'soon', 'client_ttl_seconds:web', 'long', 'client_set_at:web', '99999999999999999', 'session_ttl_set_at', 'yesterday')
  const res = await call(ctx.app, 'GET', '/admin/settings/session-ttl', admin.token)
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().set_at, null, 'a set_at that is not a time')
  t.same(res.json().clients, [{ client: 'web', idle_timeout_seconds: null, max_age_seconds: null, ended_before: '9999-12-31T23:59:59.999Z', set_by: null, set_at: null }],
    'an idle window that is not a number is ignored (the global one applies); an ending that is not a time ends every session, shown as the latest instant there is')
})

t.test('a client\'s policy applies live: a short window ends its sessions, a long one outlives the global TTL, ending the client ends them all', async (t) => {
  const ctx = await buildTestApp(t)
  const { app } = ctx
  const admin = await newAdmin(ctx)
  const { email } = await newSession(ctx)
  const policy = (client: string, idle: number) => call(app, 'PUT', `/admin/settings/clients/${client}`, admin.token, { idle_timeout_seconds: idle })
  // Every instance re-reads the policies twice a second: this one has them at once (it made the change).
  t.equal((await policy('ios', 2)).statusCode, 200)

  await t.test('a 2 s window for ios: its session goes idle, an unbound one under the global 20 min lives on', async (t) => {
    const ios = await loginAs(app, email, 'ios')
    const unbound = await loginAs(app, email)
    t.equal(ios.idle_timeout_seconds, 2, 'the login tells the app its window')
    t.equal(unbound.idle_timeout_seconds, 1200)
    t.equal((await meAs(app, ios.token, 'ios')).statusCode, 200)
    await sleep(3000)
    const idle = await meAs(app, ios.token, 'ios')
    t.equal(idle.statusCode, 401)
    t.match(idle.json(), { error: 'session_expired', reason: 'idle' })
    t.equal((await meAs(app, unbound.token)).statusCode, 200)
  })

  await t.test('a 1 h window for ios: its session outlives a global TTL of 2 s, an unbound one does not', async (t) => {
    t.equal((await policy('ios', 3600)).statusCode, 200)
    t.equal((await call(app, 'PUT', '/admin/settings/session-ttl', admin.token, { ttl_seconds: 2 })).statusCode, 200)
    const ios = await loginAs(app, email, 'ios')
    const unbound = await loginAs(app, email)
    t.equal(ios.idle_timeout_seconds, 3600)
    t.equal(unbound.idle_timeout_seconds, 2)
    await sleep(3000)
    t.equal((await meAs(app, ios.token, 'ios')).statusCode, 200, 'idle for longer than the global TTL, and still signed in')
    t.match((await meAs(app, unbound.token)).json(), { error: 'session_expired', reason: 'idle' })
    // The admin's session is unbound too: it went idle with the rest.
    t.equal((await meAs(app, admin.token)).statusCode, 401)
    admin.token = (await login(app, admin.email)).token
    t.equal((await call(app, 'DELETE', '/admin/settings/session-ttl', admin.token)).statusCode, 200)

    await t.test('ending ios revokes its sessions, and only its: cause client_ended; a new login works', async (t) => {
      const beta = await loginAs(app, email, 'ios/beta')
      const other = await loginAs(app, email)
      const ended = await call(app, 'DELETE', '/admin/clients/ios/sessions', admin.token)
      t.equal(ended.statusCode, 200)
      const at = Date.parse(ended.json().ended_before)
      t.ok(Math.abs(at - Date.now()) < 5000, `ended_before is now (${ended.json().ended_before})`)
      const refused = await meAs(app, ios.token, 'ios')
      t.equal(refused.statusCode, 401)
      t.match(refused.json(), { error: 'session_expired', reason: 'revoked', cause: 'client_ended' })
      t.equal((await meAs(app, beta.token, 'ios/beta')).statusCode, 200, 'another client, however alike its name')
      t.equal((await meAs(app, other.token)).statusCode, 200, 'an unbound session')
      t.equal((await meAs(app, admin.token)).statusCode, 200, 'the admin\'s own')
      const again = await loginAs(app, email, 'ios')
      t.equal((await meAs(app, again.token, 'ios')).statusCode, 200, 'a login after the ending is a new session of ios')
      t.match((await call(app, 'GET', '/admin/settings/session-ttl', admin.token)).json().clients, [{ client: 'ios', idle_timeout_seconds: 3600, ended_before: ended.json().ended_before }], 'listed with when its sessions were ended')
      t.match((await call(app, 'DELETE', '/admin/settings/clients/ios', admin.token)).json(), { client: 'ios', idle_timeout_seconds: null, ended_before: ended.json().ended_before }, 'a reset keeps the ending: sessions from before it stay ended')
    })
  })
})
