import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createSessionReader } from '@gatehouse/session-reader'
import t from 'tap'
import { redisEnv } from '../cli/run-cli.js'
import { buildTestApp, type TestContext } from '../helpers/app.js'

// The conformance cases (contract/fixtures/reading-cases.json): the Python kit, the Node library
// and Gatehouse itself must decide every one of them alike, and as the case says.
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const FILE = JSON.parse(readFileSync(join(ROOT, 'contract/fixtures/reading-cases.json'), 'utf8'))
const { settings } = FILE
interface Case {
  name: string
  expect: string
  token: string
  audience: string | null
  /** Read with the HS256 secrets too (the unsafe option); otherwise with the public keys alone. */
  shared_secrets: boolean
  user_id: string
  jti: string
  session: Record<string, string> | null
  session_ttl_ms: number | null
  cutoff: string | null
  /** Fields of `<prefix>config`. */
  config: Record<string, string> | null
}
const CASES: Case[] = FILE.cases

/** `${now-60000}` → Redis' time in ms, minus 60 s; `${now_us+5}` in µs. */
function resolve (value: string, nowMs: number): string {
  return value.replace(/\$\{now(_us)?([+-]\d+)?\}/g, (_, us: string | undefined, offset: string | undefined) =>
    String((us ? nowMs * 1000 : nowMs) + Number(offset ?? 0)))
}

/** Writes a case's Redis state under `prefix`, as the fixture's comment tells any team to; `config` false leaves `<prefix>config` alone. */
async function load (ctx: TestContext, prefix: string, c: Case, { config = true } = {}): Promise<void> {
  const [seconds, micros] = (await ctx.redis.time()) as [number | string, number | string]
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  if (c.session) {
    const key = `${prefix}sess:{${c.user_id}}:${c.jti}`
    await ctx.redis.hset(key, Object.fromEntries(Object.entries(c.session).map(([field, value]) => [field, resolve(value, now)])))
    if (c.session_ttl_ms !== null) await ctx.redis.pexpire(key, c.session_ttl_ms)
  }
  if (c.cutoff !== null) await ctx.redis.set(`${prefix}user:{${c.user_id}}:cutoff`, resolve(c.cutoff, now))
  if (c.config !== null && config) {
    await ctx.redis.hset(`${prefix}config`, Object.fromEntries(Object.entries(c.config).map(([field, value]) => [field, resolve(value, now)])))
  }
}

/** The library's keys for a case: the public keys always, the HS256 secrets only when the case says. */
const keysFor = (c: Case) => ({
  publicKeys: settings.JWT_JWKS.keys,
  ...(c.shared_secrets && { unsafeSharedSecrets: [settings.JWT_SECRET, settings.JWT_PREVIOUS_SECRETS] }),
})

function python (ctx: TestContext, prefix: string, c: Case, acceptUntyped = settings.JWT_ACCEPT_UNTYPED): Promise<string> {
  const env = {
    PATH: process.env.PATH ?? '',
    ...redisEnv(ctx.config),
    REDIS_KEY_PREFIX: prefix,
    JWT_JWKS: JSON.stringify(settings.JWT_JWKS),
    ...(c.shared_secrets && { JWT_UNSAFE_SHARED_SECRETS: 'true', JWT_SECRET: settings.JWT_SECRET, JWT_PREVIOUS_SECRETS: settings.JWT_PREVIOUS_SECRETS }),
    JWT_ISSUER: settings.JWT_ISSUER,
    JWT_ACCEPT_UNTYPED: String(acceptUntyped),
    SESSION_TTL_SECONDS: String(settings.SESSION_TTL_SECONDS),
    SESSION_MAX_AGE_SECONDS: String(settings.SESSION_MAX_AGE_SECONDS),
  }
  const args = [join(ROOT, 'contract/gatehouse_session.py'), 'read', c.token, ...(c.audience === null ? [] : [c.audience])]
  return new Promise((resolve) => {
    execFile('python3', args, { env, timeout: 20_000 }, (err, stdout, stderr) => {
      if (!err) return resolve('live')
      const reason = /^not live: (\w+)$/m.exec(stderr)
      resolve(reason ? reason[1]! : `failed: ${stderr.trim() || stdout.trim()}`)
    })
  })
}

t.test('the Python kit and the Node library decide every conformance case as it says', async (t) => {
  const ctx = await buildTestApp(t)
  // Each case under a prefix of its own: cases set different TTLs in <prefix>config.
  const prefixOf = (i: number) => `${ctx.config.redisKeyPrefix}c${i}:`
  const readers = CASES.map((c, i) => createSessionReader({
    redis: ctx.redis,
    keyPrefix: prefixOf(i),
    issuer: settings.JWT_ISSUER,
    acceptUntyped: settings.JWT_ACCEPT_UNTYPED,
    keys: keysFor(c),
    defaultTtlSeconds: settings.SESSION_TTL_SECONDS,
    maxAgeSeconds: settings.SESSION_MAX_AGE_SECONDS,
  }))
  // Four cases at a time, each read by both readers right after it is loaded: the cases' times
  // (idle for 30 s of a 60 s TTL) must not run out while a busy machine starts Python 48 times.
  for (let from = 0; from < CASES.length; from += 4) {
    const batch = CASES.slice(from, from + 4).map((c, j) => ({ c, i: from + j }))
    for (const { c, i } of batch) await load(ctx, prefixOf(i), c)
    const fromPython = await Promise.all(batch.map(({ c, i }) => python(ctx, prefixOf(i), c)))
    for (const [j, { c, i }] of batch.entries()) {
      const result = await readers[i]!.read(c.token, { audience: c.audience })
      t.equal(result.live ? 'live' : result.reason, c.expect, `library: ${c.name}`)
      t.equal(fromPython[j], c.expect, `Python kit: ${c.name}`)
    }
  }
  t.ok(CASES.filter((c) => c.expect === 'live').length >= 5 && CASES.filter((c) => c.expect !== 'live').length >= 20, 'both kinds of case are there')
})

function headerOf (c: Case): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(c.token.split('.')[0]!, 'base64url').toString('utf8'))
  } catch {
    return {} // not a JWT at all
  }
}
const untyped = (c: Case) => headerOf(c).typ === 'JWT'
/**
 * The cases Gatehouse decides under its own prefix, where it recorded its own untyped window and
 * the default TTL is in force: the cases with no config, or whose config only opens the window.
 * Gatehouse signs with the fixture's Ed25519 key and keeps both secrets to verify (a deployment
 * moving from HS256), so the cases of a reader without the secrets are not its to decide; nor the
 * two it answers differently by design (it writes v, and completes layout-1 sessions itself).
 */
const forGatehouse = (c: Case) =>
  (c.shared_secrets || headerOf(c).alg !== 'HS256') && c.expect !== 'unknown_version' && c.session?.v !== '1' &&
  (c.config === null ? !untyped(c) : Object.keys(c.config).join() === 'untyped_tokens_until' && c.config.untyped_tokens_until!.startsWith('${now+'))
const GATEHOUSE_KEYS = { JWT_PRIVATE_KEY: settings.JWT_PRIVATE_KEY, JWT_PREVIOUS_SECRETS: `${settings.JWT_SECRET},${settings.JWT_PREVIOUS_SECRETS}` }

t.test('Gatehouse itself agrees: POST /introspect and GET /me accept exactly the live cases', async (t) => {
  const credential = 'reading-cases-introspection-credential-000000'
  const ctx = await buildTestApp(t, {
    ...GATEHOUSE_KEYS,
    JWT_ISSUER: settings.JWT_ISSUER,
    JWT_ACCEPT_UNTYPED: String(settings.JWT_ACCEPT_UNTYPED),
    SESSION_TTL_SECONDS: String(settings.SESSION_TTL_SECONDS),
    SESSION_MAX_AGE_SECONDS: String(settings.SESSION_MAX_AGE_SECONDS),
    INTROSPECTION_TOKENS: credential,
  })
  const cases = CASES.filter(forGatehouse)
  t.ok(cases.length >= 45 && cases.some((c) => headerOf(c).alg === 'EdDSA') && cases.some(untyped), 'most cases, EdDSA and untyped ones among them')
  for (const c of cases) await load(ctx, ctx.config.redisKeyPrefix, c, { config: false })
  for (const c of cases) {
    const res = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${credential}` }, payload: { token: c.token } })
    // Introspection reports the token's audience (aud) for the caller to compare; it names no request.
    t.equal(res.json().active, c.expect === 'live' || c.expect === 'wrong_audience', `Gatehouse's introspection: ${c.name}`)
  }
  // And an authenticated request (touch-session.lua, which also slides and ends sessions), last.
  for (const c of cases) {
    const headers = { authorization: `Token token=${c.token}`, ...(c.audience !== null && { 'jwt-aud': c.audience }) }
    const res = await ctx.app.inject({ method: 'GET', url: '/me', headers })
    // The library's middleware answers a reason with the same 401 error code (its failureOf).
    const expected = c.expect === 'live' ? 'ok' : ['invalid_token', 'wrong_audience'].includes(c.expect) ? 'invalid_token' : 'session_expired'
    t.equal(res.statusCode === 200 ? 'ok' : res.json().error, expected, `Gatehouse's GET /me: ${c.name}`)
  }
})

t.test('with JWT_ACCEPT_UNTYPED=false the untyped tokens from before are refused by all three, and nothing else changes', async (t) => {
  const credential = 'reading-cases-introspection-credential-000000'
  const ctx = await buildTestApp(t, {
    ...GATEHOUSE_KEYS,
    JWT_ACCEPT_UNTYPED: 'false',
    INTROSPECTION_TOKENS: credential,
  })
  // The live cases, each with its window open where it has one: false refuses them all the same.
  const cases = CASES.filter((c) => c.expect === 'live' && forGatehouse(c) && c.session?.v === '3')
  t.ok(cases.filter(untyped).length >= 2, 'untyped live cases are there')
  for (const c of cases) await load(ctx, ctx.config.redisKeyPrefix, c, { config: false })
  t.equal(await ctx.redis.hget(`${ctx.config.redisKeyPrefix}config`, 'untyped_tokens_until'), '0', 'Gatehouse closed the window for every reader')
  for (const c of cases) {
    const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, acceptUntyped: false, keys: keysFor(c) })
    const expected = untyped(c) ? 'invalid_token' : 'live'
    const fromNode = await reader.read(c.token, { audience: c.audience })
    t.equal(fromNode.live ? 'live' : fromNode.reason, expected, `library: ${c.name}`)
    t.equal(await python(ctx, ctx.config.redisKeyPrefix, c, false), expected, `Python kit: ${c.name}`)
    const res = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${credential}` }, payload: { token: c.token } })
    t.equal(res.json().active, expected === 'live', `Gatehouse: ${c.name}`)
  }
})

t.test('the cases file is what scripts/reading-cases.mjs writes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'reading-cases-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const copy = join(dir, 'cases.json')
  await new Promise<void>((resolve, reject) => execFile('node', [join(ROOT, 'scripts/reading-cases.mjs'), copy], (err) => (err ? reject(err) : resolve())))
  t.equal(await readFile(copy, 'utf8'), readFileSync(join(ROOT, 'contract/fixtures/reading-cases.json'), 'utf8'))
})
