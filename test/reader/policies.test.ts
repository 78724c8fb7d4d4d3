import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { authenticateRequest, createSessionReader, type ReaderRedis } from '@gatehouse/session-reader'
import { unauthorized } from '@gatehouse/session-reader/answers'
import { TOKEN_TYPE } from '@gatehouse/session-reader/token'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'

// The library on its own, against sessions written by hand as Gatehouse writes them: a client's
// policy is what a live session reports (idle window, end, which policy), read in the one script
// or beside it as on a Cluster; and the 401 its middleware gives says why a session ended.

const signing = generateKeyPairSync('ed25519')
const keys = { publicKeys: [signing.publicKey.export({ format: 'pem', type: 'spki' }).toString()] }
// The kid Gatehouse gives a public key (and a reader computes): its RFC 7638 thumbprint.
const { crv, kty, x } = signing.publicKey.export({ format: 'jwk' })
const kid = createHash('sha256').update(JSON.stringify({ crv, kty, x })).digest('base64url')
const sign = createSigner({ key: signing.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: 'EdDSA', kid, header: { alg: 'EdDSA', typ: TOKEN_TYPE }, iss: 'gatehouse' })

async function redisNow (ctx: TestContext): Promise<number> {
  const [seconds, micros] = (await ctx.redis.time()) as [number | string, number | string]
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
}

/** A session of a fresh user, bound to `aud` (or unbound), created `ageMs` and last used `idleMs` ago: its token and ids. */
async function session (ctx: TestContext, { aud, ageMs = 60_000, idleMs = 1000 }: { aud?: string, ageMs?: number, idleMs?: number }) {
  const userId = randomUUID()
  const jti = randomBytes(16).toString('base64url')
  const now = await redisNow(ctx)
  const key = `${ctx.config.redisKeyPrefix}sess:{${userId}}:${jti}`
  await ctx.redis.hset(key, {
    v: '3',
    user_id: userId,
    role: 'user',
    created_at: String(now - ageMs),
    last_seen_at: String(now - idleMs),
    max_expires_at: String(now + 86_400_000),
    generation: '0',
    aud: aud ?? '',
  })
  await ctx.redis.pexpire(key, 86_400_000)
  const token = sign({ jti, user_id: userId, created_at: now - ageMs, iat: Math.floor((now - ageMs) / 1000), exp: Math.floor(now / 1000) + 86_400, ...(aud && { aud }) })
  return { token, userId, jti, now }
}

t.test("a live session reports its client's policy, read in the script or beside it (as on a Cluster)", async (t) => {
  const ctx = await buildTestApp(t)
  const prefix = ctx.config.redisKeyPrefix
  // The same Redis, told it is a Cluster: <prefix>config is then read with an HMGET beside the script.
  const commands: string[] = []
  const beside: ReaderRedis = { isCluster: true, call: (command, ...args) => { commands.push(command); return ctx.redis.call(command, ...args) } }
  const readers = { script: createSessionReader({ redis: ctx.redis, keyPrefix: prefix, keys }), beside: createSessionReader({ redis: beside, keyPrefix: prefix, keys }) }
  await ctx.redis.hset(`${prefix}config`, 'session_ttl_seconds', '60', 'client_ttl_seconds:phone', '7200', 'client_max_age_seconds:phone', '86400')

  for (const [how, reader] of Object.entries(readers)) {
    const phone = await session(ctx, { aud: 'phone', idleMs: 600_000 })
    const read = await reader.read(phone.token, { audience: 'phone' })
    if (!read.live) throw t.fail(`${how}: not live: ${read.reason}`)
    t.match(read.session, { policy: 'client', idleTimeoutMs: 7_200_000, audience: 'phone' }, `${how}: idle 10 min, past the global minute, within the client's 2 h`)
    t.equal(read.session.endsAt, read.session.createdAt + 86_400_000, `${how}: the client's day ends it before the token's exp`)
    t.equal(read.session.expiresAt, read.session.lastSeenAt + 7_200_000, `${how}: unused, it ends with the client's window`)

    const web = await session(ctx, { aud: 'web', idleMs: 30_000 })
    const global = await reader.read(web.token, { audience: 'web' })
    t.match(global, { live: true, session: { policy: 'global', idleTimeoutMs: 60_000 } }, `${how}: a client with no policy has the global one`)
    t.same(await reader.read((await session(ctx, { aud: 'web', idleMs: 120_000 })).token, { audience: 'web' }), { live: false, reason: 'idle' }, `${how}: and is idle past it`)
  }
  t.same([...new Set(commands)].sort(), ['EVALSHA_RO', 'HMGET'], 'beside: the script and one HMGET of the config')
})

t.test("the middleware's 401 says why a session ended, and a token that is not genuine says nothing more", async (t) => {
  const ctx = await buildTestApp(t)
  const prefix = ctx.config.redisKeyPrefix
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: prefix, keys })
  const authenticate = authenticateRequest({ reader })
  const bodyFor = async (token: string, audience?: string) => {
    const outcome = await authenticate({ method: 'GET', headers: { authorization: `Token token=${token}`, ...(audience && { 'jwt-aud': audience }) } })
    if (outcome.ok) throw t.fail('live')
    return outcome.answer.body
  }
  const message = 'The session has expired or was ended; log in again'

  const loggedOut = await session(ctx, {})
  await ctx.redis.del(`${prefix}sess:{${loggedOut.userId}}:${loggedOut.jti}`)
  await ctx.redis.set(`${prefix}ended:{${loggedOut.userId}}:${loggedOut.jti}`, 'logged_out')
  t.same(await bodyFor(loggedOut.token), { error: 'session_expired', message, reason: 'logged_out' }, 'its own logout, remembered once its hash is gone')

  const revoked = await session(ctx, {})
  const cutoff = String((revoked.now + 1) * 1000)
  await ctx.redis.set(`${prefix}user:{${revoked.userId}}:cutoff`, cutoff)
  await ctx.redis.hset(`${prefix}user:{${revoked.userId}}:revoked`, { at: cutoff, reason: 'password_changed', kept: '' })
  t.same(await bodyFor(revoked.token), { error: 'session_expired', message, reason: 'revoked', cause: 'password_changed' }, 'revoked by a password change, its hash still there')

  const ended = await session(ctx, { aud: 'kiosk' })
  await ctx.redis.hset(`${prefix}config`, 'client_ended_before:kiosk', String(ended.now))
  t.same(await bodyFor(ended.token, 'kiosk'), { error: 'session_expired', message, reason: 'revoked', cause: 'client_ended' }, 'ops ended its client after it was created')

  const aged = await session(ctx, { aud: 'tv', ageMs: 7_200_000 })
  await ctx.redis.hset(`${prefix}config`, 'client_max_age_seconds:tv', '3600')
  t.same(await bodyFor(aged.token, 'tv'), { error: 'session_expired', message, reason: 'max_age' }, "older than its client's maximum age")

  const stolen = await session(ctx, { aud: 'tv' })
  await ctx.redis.hset(`${prefix}sess:{${stolen.userId}}:${stolen.jti}`, 'aud', 'kiosk')
  t.same(await reader.read(stolen.token, { audience: 'tv' }), { live: false, reason: 'no_session' }, "a hash of another client's is not this token's session")
  t.same(await bodyFor(stolen.token, 'tv'), { error: 'session_expired', message, reason: 'idle' }, 'and the 401 has nothing more to tell of it than of one Redis let expire')

  t.same(await bodyFor(ended.token), { error: 'invalid_token', message: 'The token is invalid' }, 'a bound token used without its client: no reason')
  t.same(unauthorized('invalid_token', { reason: 'revoked', cause: 'admin' }).body, { error: 'invalid_token', message: 'The token is invalid' }, 'only session_expired carries a reason')
  t.same(unauthorized('session_expired', { reason: 'idle', cause: 'admin' }).body, { error: 'session_expired', message, reason: 'idle' }, 'and a cause only with revoked')
})
