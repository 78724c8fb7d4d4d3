import t, { type Test } from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { call, claimsOf, login, me, newSession, PASSWORD } from '../helpers/http.js'
import { indexed, keysOf, sessionsInRedis } from '../helpers/redis.js'
import { sleep } from '../helpers/wait.js'

// Each race runs for several rounds with requests started in staggered waves (the sleeps), so the
// operations really interleave (app.inject runs them concurrently on one event loop, across real
// Redis and Postgres round trips). Every assertion is on what is left in Redis afterwards.
const ROUNDS = 6

/** The index and the session hashes agree: nothing indexed is missing, nothing live is unindexed. */
async function indexMatchesRedis (t: Test, ctx: TestContext, userId: string) {
  const live = (await sessionsInRedis(ctx, userId)).map((s) => s.id).sort()
  t.same((await indexed(ctx, userId)).sort(), live, 'the index lists exactly the live sessions')
}

type LoginOutcome = { status: number; token?: string }
async function tryLogin (ctx: TestContext, email: string, password = PASSWORD): Promise<LoginOutcome> {
  const res = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password } })
  return { status: res.statusCode, token: res.statusCode === 201 ? res.json().token : undefined }
}

/** Starts `count` logins spread over about `spreadMs`. */
function loginStorm (ctx: TestContext, email: string, count: number, spreadMs: number, password = PASSWORD): Promise<LoginOutcome[]> {
  return Promise.all(Array.from({ length: count }, async (_, i) => {
    await sleep((i * spreadMs) / count)
    return tryLogin(ctx, email, password)
  }))
}

t.test('login racing a revoke-all leaves no session the revoke should have ended', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, token, user } = await newSession(ctx)
  const cutoffKey = keysOf(ctx).cutoff(user.id)
  for (let round = 0; round < ROUNDS; round++) {
    const storm = loginStorm(ctx, email, 16, 30)
    await sleep(10 + round * 3)
    const revoke = await call(ctx.app, 'DELETE', '/sessions', token)
    t.equal(revoke.statusCode, 200)
    const outcomes = await storm
    t.ok(outcomes.every((o) => o.status === 201), 'every login succeeded (a revoke-all by the user does not lock them out)')

    // The cutoff is the Redis time (µs) at which the revoke ran: anything older must be gone.
    const revokedAtMs = Math.floor(Number(await ctx.redis.get(cutoffKey)) / 1000)
    const survivors = (await sessionsInRedis(ctx, user.id)).filter((s) => s.id !== claimsOf(token).jti)
    t.same(survivors.filter((s) => s.createdAt < revokedAtMs), [], `round ${round}: no session created before the revoke survived`)
    await indexMatchesRedis(t, ctx, user.id)
  }
})

t.test('login with the old password racing a password change never keeps a session', async (t) => {
  // The production bcrypt cost: bcryptjs yields to the event loop only every 100 ms, so only a
  // real cost lets the change commit while a login is between reading the old hash and storing
  // its session, the window this race is about. (With the generation check removed from
  // create-session-n.lua, this test fails: an old-password session survives.)
  const ctx = await buildTestApp(t, { BCRYPT_COST: '12' })
  for (let round = 0; round < 2; round++) {
    const { email, token, user } = await newSession(ctx)
    const storm = loginStorm(ctx, email, 6, 900)
    await sleep(100)
    const change = await call(ctx.app, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: `new password ${round}` })
    t.equal(change.statusCode, 204)
    const outcomes = await storm
    t.ok(outcomes.every((o) => o.status === 201 || o.status === 401), 'each login either got in before the change or was refused')
    for (const { token: old } of outcomes.filter((o) => o.token)) {
      t.equal((await me(ctx.app, `Token token=${old}`)).statusCode, 401, `round ${round}: a session from the old password is dead`)
    }
    t.same((await sessionsInRedis(ctx, user.id)).map((s) => s.id), [claimsOf(token).jti], 'only the changer\'s session is left')
    await indexMatchesRedis(t, ctx, user.id)
  }
})

t.test('a request racing a revoke never brings back the session or its index entry', async (t) => {
  const ctx = await buildTestApp(t)
  const { email, token: owner, user } = await newSession(ctx)
  for (let round = 0; round < ROUNDS; round++) {
    const { token: victim } = await login(ctx.app, email)
    const requests = Array.from({ length: 30 }, async (_, i) => {
      await sleep(i % 10)
      return (await me(ctx.app, `Token token=${victim}`)).statusCode
    })
    await sleep(round)
    const revoke = await call(ctx.app, 'DELETE', `/sessions/${claimsOf(victim).jti}`, owner)
    t.equal(revoke.statusCode, 204)
    const statuses = await Promise.all(requests)
    t.ok(statuses.every((s) => s === 200 || s === 401), 'every request got 200 (before) or 401 (after)')
    t.equal((await me(ctx.app, `Token token=${victim}`)).statusCode, 401)
    t.notOk((await indexed(ctx, user.id)).includes(claimsOf(victim).jti as string), `round ${round}: no index entry came back`)
    t.same((await sessionsInRedis(ctx, user.id)).map((s) => s.id), [claimsOf(owner).jti], 'no session hash came back')
  }
})

t.test('a password change racing requests made with another session leaves that session dead', async (t) => {
  const ctx = await buildTestApp(t)
  for (let round = 0; round < ROUNDS; round++) {
    const { email, token, user } = await newSession(ctx)
    const { token: other } = await login(ctx.app, email)
    const requests = Array.from({ length: 30 }, async (_, i) => {
      await sleep(i % 12)
      return (await call(ctx.app, 'GET', '/sessions', other)).statusCode
    })
    await sleep(round)
    const change = await call(ctx.app, 'PUT', '/me/password', token, { current_password: PASSWORD, new_password: `new password ${round}` })
    t.equal(change.statusCode, 204)
    const statuses = await Promise.all(requests)
    t.ok(statuses.every((s) => s === 200 || s === 401))
    t.equal((await me(ctx.app, `Token token=${other}`)).statusCode, 401, `round ${round}: the other session is dead`)
    t.same((await sessionsInRedis(ctx, user.id)).map((s) => s.id), [claimsOf(token).jti])
    await indexMatchesRedis(t, ctx, user.id)
  }
})

t.test('concurrent logins beyond SESSION_MAX_PER_USER never leave more than the cap alive', async (t) => {
  const ctx = await buildTestApp(t, { SESSION_MAX_PER_USER: '3' })
  const { email, user } = await newSession(ctx)
  for (let round = 0; round < ROUNDS; round++) {
    const outcomes = await loginStorm(ctx, email, 20, 10)
    t.ok(outcomes.every((o) => o.status === 201), 'every login succeeded')
    const live = await sessionsInRedis(ctx, user.id)
    t.equal(live.length, 3, `round ${round}: exactly the cap is alive`)
    let working = 0
    for (const { token } of outcomes) if ((await me(ctx.app, `Token token=${token}`)).statusCode === 200) working++
    t.equal(working, 3, 'and exactly that many tokens work')
    await indexMatchesRedis(t, ctx, user.id)
  }
})
