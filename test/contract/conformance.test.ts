import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { sessionKeys } from '../../src/sessions/keys.js'
import { SESSION_LAYOUT_VERSION } from '../../src/sessions/keys.js'
import { redisEnv } from '../cli/run-cli.js'
import { buildTestApp, storeOf, type TestContext } from '../helpers/app.js'
import { call, claimsOf, newAdmin, newSession, PASSWORD } from '../helpers/http.js'
import { keysOf, sessionKeyOf } from '../helpers/redis.js'
import { eventually, sleep } from '../helpers/wait.js'
import { PYTHON } from './python.js'

// The conformance kit under contract/, run as another team would run it: Python's standard
// library and plain Redis commands, none of Gatehouse's code.
const KIT = fileURLToPath(new URL('../../contract/gatehouse_session.py', import.meta.url))
const FIXTURE = JSON.parse(readFileSync(new URL('../../contract/fixtures/session-v3.json', import.meta.url), 'utf8'))

function kit (ctx: TestContext, command: 'read' | 'check', token: string, audience?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '',
    ...redisEnv(ctx.config),
    REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix,
    // The public keys only, as Gatehouse publishes them: a reader holds nothing that signs.
    JWT_JWKS: JSON.stringify(ctx.app.tokens.jwks),
    SESSION_TTL_SECONDS: String(ctx.config.sessionTtlSeconds),
  }
  return new Promise((resolve) => {
    execFile(PYTHON, [KIT, command, token, ...(audience === undefined ? [] : [audience])], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

async function loginFromApp (ctx: TestContext, email: string, audience?: string) {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/sessions',
    headers: { 'x-client': 'ios', 'user-agent': 'Gatehouse/1.0 (iPhone; iOS 18.1)', ...(audience !== undefined && { 'jwt-aud': audience }) },
    payload: { email, password: PASSWORD },
  })
  return res.json().token as string
}

t.test('the reader prints user_id and role of a live session created through the API', async (t) => {
  const ctx = await buildTestApp(t)
  const { user, email } = await newSession(ctx)
  const token = await loginFromApp(ctx, email)
  const res = await kit(ctx, 'read', token)
  t.equal(res.code, 0, res.stderr)
  t.equal(res.stdout.trim(), `user_id=${user.id} role=user`)

  const admin = await newAdmin(ctx)
  t.equal((await kit(ctx, 'read', admin.token)).stdout.trim(), `user_id=${admin.user.id} role=admin`)

  t.test('and refuses what the contract says to refuse', async (t) => {
    const forged = createSigner({ key: 'some-other-secret-some-other-secret-0000', algorithm: 'HS256' })(claimsOf(token))
    t.match(await kit(ctx, 'read', forged), { code: 1, stderr: 'not live: invalid_token' })
    const [, payload] = token.split('.')
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`
    t.match(await kit(ctx, 'read', none), { code: 1, stderr: 'not live: invalid_token' })

    const other = await loginFromApp(ctx, email)
    t.equal((await call(ctx.app, 'DELETE', '/sessions/current', other)).statusCode, 204)
    t.match(await kit(ctx, 'read', other), { code: 1, stderr: /^not live: logged_out$/m }, 'a logged-out session: its own logout')

    const idle = await loginFromApp(ctx, email)
    await sleep(1100) // idle longer than the TTL about to be set
    await ctx.redis.hset(`${ctx.config.redisKeyPrefix}config`, 'session_ttl_seconds', '1')
    t.match(await kit(ctx, 'read', idle), { code: 1, stderr: 'not live: idle' }, 'idle past a shortened TTL, though its key still exists')
    t.equal(await ctx.redis.exists(sessionKeyOf(ctx, idle)), 1)
    await ctx.redis.hdel(`${ctx.config.redisKeyPrefix}config`, 'session_ttl_seconds')
    // The app follows the setting within a second; until it has, a login would get the 1 s TTL.
    t.ok(await eventually(5000, () => ctx.app.sessionTtl.seconds() === ctx.config.sessionTtlSeconds), 'the app is back on the default TTL')

    // A revoke-all refuses sessions at once and deletes their keys after (in batches): between
    // the two, the user's cutoff is what tells a reader.
    const cutOff = await loginFromApp(ctx, email)
    await (await storeOf(t, ctx)).cutOff(user.id)
    t.equal(await ctx.redis.exists(sessionKeyOf(ctx, cutOff)), 1, 'its key still exists')
    t.match(await kit(ctx, 'read', cutOff), { code: 1, stderr: 'not live: revoked' }, 'a session a revoke-all cut off')
  })
})

t.test("a session bound to a client reads by its client's window, and says when ops ended the client", async (t) => {
  const ctx = await buildTestApp(t)
  const { email } = await newSession(ctx)
  const config = `${ctx.config.redisKeyPrefix}config`
  const client = 'conformance-ios'
  const bound = await loginFromApp(ctx, email, client)
  const unbound = await loginFromApp(ctx, email)
  t.equal((await kit(ctx, 'check', bound, client)).code, 0, 'the bound session has the documented layout, aud included')
  // A global TTL of 1 s, and an hour for the client: both sessions idle past the first.
  await ctx.redis.hset(config, 'session_ttl_seconds', '1', `client_ttl_seconds:${client}`, '3600')
  t.teardown(() => ctx.redis.hdel(config, 'session_ttl_seconds', `client_ttl_seconds:${client}`, `client_ended_before:${client}`))
  await sleep(1100)
  t.equal((await kit(ctx, 'read', bound, client)).code, 0, "live under the client's hour")
  t.match(await kit(ctx, 'read', unbound), { code: 1, stderr: /^not live: idle$/m }, 'the unbound one is idle under the global second')
  t.match(await kit(ctx, 'read', bound), { code: 1, stderr: /^not live: wrong_audience$/m }, 'used without its client')

  const [seconds, micros] = (await ctx.redis.time()) as [number | string, number | string]
  await ctx.redis.hset(config, `client_ended_before:${client}`, String(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + 1))
  t.match(await kit(ctx, 'read', bound, client), { code: 1, stderr: /^not live: revoked cause=client_ended$/m }, 'ops ended every session of the client')
})

t.test('the layout check passes on a live session, and fails when the layout is not the documented one', async (t) => {
  const ctx = await buildTestApp(t)
  const { email } = await newSession(ctx)
  const token = await loginFromApp(ctx, email)
  const res = await kit(ctx, 'check', token)
  t.equal(res.code, 0, res.stdout)
  t.match(res.stdout, /\n0 failure\(s\)\n$/)
  t.notMatch(res.stdout, /^FAIL/m)

  const key = sessionKeyOf(ctx, token)
  await ctx.redis.hset(key, 'surprise', '1')
  await ctx.redis.pexpire(key, 10 * 24 * 3600 * 1000)
  await ctx.redis.set(keysOf(ctx).cutoff(String(claimsOf(token).user_id)), `${Date.now() + 1000}000`)
  const broken = await kit(ctx, 'check', token)
  t.equal(broken.code, 1, 'an undocumented field, a TTL past the window and a revoked session are caught')
  t.match(broken.stdout, /^FAIL fields are exactly/m)
  t.match(broken.stdout, /^FAIL it is at most last_seen_at \+ the idle window in force/m)
  t.match(broken.stdout, /^FAIL the session's generation is not below the user's cutoff/m)
})

t.test('the fixtures are real: a live session has exactly their keys, fields and formats', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, user } = await newSession(ctx)
  const token = await loginFromApp(ctx, email)
  const prefix = ctx.config.redisKeyPrefix
  const claims = claimsOf(token)
  const live = await ctx.redis.hgetall(sessionKeyOf(ctx, token))

  const shape = (value: string) => (/^\d{13}$/.test(value) ? 'unix-ms' : /^[0-9a-f-]{36}$/.test(value) ? 'uuid' : value === '' ? 'empty' : /^\d+$/.test(value) ? 'integer' : 'text')
  t.same(Object.keys(live).sort(), Object.keys(FIXTURE.session).sort(), 'hash fields')
  for (const field of ['created_at', 'last_seen_at', 'max_expires_at', 'user_created_at', 'user_id', 'generation']) t.equal(shape(live[field]!), shape(FIXTURE.session[field]), field)
  t.same(Object.keys(claims).sort(), Object.keys(FIXTURE.token_claims).sort(), 'token claims')
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'))
  t.same(Object.keys(header).sort(), Object.keys(FIXTURE.token_header).sort(), 'token header')
  const named = sessionKeys('gatehouse:')
  t.equal(FIXTURE.session_key, named.session(FIXTURE.session.user_id, FIXTURE.token_claims.jti))
  t.equal(FIXTURE.index_key, named.index(FIXTURE.session.user_id))
  t.equal(FIXTURE.owner_key, named.owner(FIXTURE.session.user_id, FIXTURE.token_claims.jti))
  t.equal(FIXTURE.session.v, SESSION_LAYOUT_VERSION)
  t.equal(Number(FIXTURE.index[1]), FIXTURE.session_pexpiretime, 'index score = PEXPIRETIME in the fixture too')
  t.equal(await ctx.redis.get(keysOf(ctx).owner(user.id, String(claims.jti))), user.id)

  const [[, fields]] = (await ctx.redis.xrange(`${prefix}events`, '-', '+')) as [[string, string[]]]
  const names = (flat: string[]) => flat.filter((_, i) => i % 2 === 0)
  t.same(names(fields), names(FIXTURE.events[0][1]), 'event fields, in order')
})
