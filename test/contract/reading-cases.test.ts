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
import { eventually } from '../helpers/wait.js'
import { PYTHON } from './python.js'

// The conformance cases (contract/fixtures/reading-cases.json): the Python kit, the Node library
// and Gatehouse itself must decide every one of them alike, and as the case says: the reason a
// session is not live, and what revoked it where that is known.
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const FILE = JSON.parse(readFileSync(join(ROOT, 'contract/fixtures/reading-cases.json'), 'utf8'))
const { settings } = FILE
interface Case {
  name: string
  expect: string
  /** With `revoked`: the cause every reader must name (null: none known). */
  expect_cause: string | null
  token: string
  audience: string | null
  /** Read with the HS256 secrets too (the unsafe option); otherwise with the public keys alone. */
  shared_secrets: boolean
  user_id: string
  jti: string
  session: Record<string, string> | null
  session_ttl_ms: number | null
  cutoff: string | null
  /** Fields of `<prefix>user:{<user_id>}:revoked`, the last revoke-all's record. */
  revocation: Record<string, string> | null
  /** `<prefix>ended:{<user_id>}:<jti>`: how the session ended, when its hash is gone. */
  ended: string | null
  /** Fields of `<prefix>config`: the global TTL, the untyped window, and `client_*:<audience>` policies. */
  config: Record<string, string> | null
}
const CASES: Case[] = FILE.cases
// Over a hundred cases, each read by a Python process of its own (its Ed25519 is pure Python): on a
// busy machine that alone can take two minutes.
t.setTimeout(300_000)

/** `${now-60000}` → Redis' time in ms, minus 60 s; `${now_us+5}` in µs. */
function resolve (value: string, nowMs: number): string {
  return value.replace(/\$\{now(_us)?([+-]\d+)?\}/g, (_, us: string | undefined, offset: string | undefined) =>
    String((us ? nowMs * 1000 : nowMs) + Number(offset ?? 0)))
}

/**
 * Writes a case's Redis state under `prefix`, as the fixture's comment tells any team to. `config`:
 * every field of `<prefix>config` ('all'), only the client policies ('clients': under Gatehouse's
 * own prefix, whose global fields it keeps itself; each case's client is its own), or none.
 */
async function load (ctx: TestContext, prefix: string, c: Case, { config = 'all' as 'all' | 'clients' | 'none' } = {}): Promise<void> {
  const [seconds, micros] = (await ctx.redis.time()) as [number | string, number | string]
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  const resolved = (fields: Record<string, string>) => Object.fromEntries(Object.entries(fields).map(([field, value]) => [field, resolve(value, now)]))
  if (c.session) {
    const key = `${prefix}sess:{${c.user_id}}:${c.jti}`
    await ctx.redis.hset(key, resolved(c.session))
    if (c.session_ttl_ms !== null) await ctx.redis.pexpire(key, c.session_ttl_ms)
  }
  if (c.cutoff !== null) await ctx.redis.set(`${prefix}user:{${c.user_id}}:cutoff`, resolve(c.cutoff, now))
  if (c.revocation !== null) await ctx.redis.hset(`${prefix}user:{${c.user_id}}:revoked`, resolved(c.revocation))
  if (c.ended !== null) await ctx.redis.set(`${prefix}ended:{${c.user_id}}:${c.jti}`, c.ended)
  const fields = Object.entries(c.config ?? {}).filter(([field]) => config === 'all' || (config === 'clients' && field.startsWith('client_')))
  if (fields.length > 0) await ctx.redis.hset(`${prefix}config`, resolved(Object.fromEntries(fields)))
}

/** What a reader decided, as one string: live, a reason, or `revoked (cause)`. */
const decision = (reason: string, cause?: string | null) => (cause ? `${reason} (${cause})` : reason)
const expected = (c: Case) => decision(c.expect, c.expect_cause)
/** The cases whose reason Gatehouse's 401 names too: why a session ended, not which check refused a token. */
const ENDINGS = new Set(['idle', 'max_age', 'logged_out', 'revoked'])

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
    execFile(PYTHON, args, { env, timeout: 20_000 }, (err, stdout, stderr) => {
      if (!err) return resolve('live')
      const reason = /^not live: (\w+)(?: cause=(\w+))?$/m.exec(stderr)
      resolve(reason ? decision(reason[1]!, reason[2]) : `failed: ${stderr.trim() || stdout.trim()}`)
    })
  })
}

t.test('the Python kit and the Node library decide every conformance case as it says', async (t) => {
  const ctx = await buildTestApp(t)
  // Each case under a prefix of its own: cases set different TTLs and policies in <prefix>config.
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
      t.equal(result.live ? 'live' : decision(result.reason, result.cause), expected(c), `library: ${c.name}`)
      t.equal(fromPython[j], expected(c), `Python kit: ${c.name}`)
    }
  }
  t.ok(CASES.filter((c) => c.expect === 'live').length >= 5 && CASES.filter((c) => c.expect !== 'live').length >= 20, 'both kinds of case are there')
  t.ok(['logged_out', 'idle', 'max_age'].every((reason) => CASES.some((c) => c.expect === reason && c.session === null)), 'endings of sessions whose hash is gone are there')
  t.ok(CASES.filter((c) => c.expect_cause !== null).length >= 6 && CASES.some((c) => c.expect === 'revoked' && c.expect_cause === null), 'revocations with and without a known cause are there')
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
 * the default TTL is in force: the cases with no config, or whose config only opens the window or
 * sets client policies (each case's client is its own, so they can share the prefix). Gatehouse
 * signs with the fixture's Ed25519 key and keeps both secrets to verify (a deployment moving from
 * HS256), so the cases of a reader without the secrets are not its to decide; nor the two it
 * answers differently by design (it writes v, and completes layout-1 sessions itself).
 */
const forGatehouse = (c: Case) => {
  if (!(c.shared_secrets || headerOf(c).alg !== 'HS256') || c.expect === 'unknown_version' || c.session?.v === '1') return false
  const global = Object.entries(c.config ?? {}).filter(([field]) => !field.startsWith('client_'))
  if (global.length === 0) return !untyped(c)
  return global.length === 1 && global[0]![0] === 'untyped_tokens_until' && global[0]![1].startsWith('${now+')
}

/**
 * Loads the cases under Gatehouse's own prefix, their client policies with them, then waits until
 * Gatehouse has read those (it re-reads `<prefix>config` twice a second): until it holds a policy
 * for every client the cases name.
 */
async function loadForGatehouse (ctx: TestContext, cases: Case[]): Promise<void> {
  for (const c of cases) await load(ctx, ctx.config.redisKeyPrefix, c, { config: 'clients' })
  // Every client the cases name, as Gatehouse holds them once it has re-read its config.
  const clients = new Set(cases.flatMap((c) => Object.keys(c.config ?? {}).flatMap((field) => /^client_[a-z_]+:(.+)$/.exec(field)?.[1] ?? [])))
  await eventually(5000, async () => {
    const known = Object.keys(ctx.app.sessionTtl.allPolicies().clients)
    return [...clients].every((client) => known.includes(client))
  })
}
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
  t.ok(cases.filter((c) => Object.keys(c.config ?? {}).some((field) => field.startsWith('client_'))).length >= 15, 'the client policy cases among them')
  const introspect = async (token: string) => {
    const res = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { authorization: `Bearer ${credential}` }, payload: { token } })
    return res.json().active as boolean
  }
  await loadForGatehouse(ctx, cases)
  for (const c of cases) {
    // Introspection reports the token's audience (aud) for the caller to compare; it names no request.
    t.equal(await introspect(c.token), c.expect === 'live' || c.expect === 'wrong_audience', `Gatehouse's introspection: ${c.name}`)
  }
  // And an authenticated request (touch-session-6.lua, which also slides and ends sessions), last.
  for (const c of cases) {
    const headers = { authorization: `Token token=${c.token}`, ...(c.audience !== null && { 'jwt-aud': c.audience }) }
    const res = await ctx.app.inject({ method: 'GET', url: '/me', headers })
    // The library's middleware answers a reason with the same 401 error code (its answerOf).
    const code = c.expect === 'live' ? 'ok' : ['invalid_token', 'wrong_audience'].includes(c.expect) ? 'invalid_token' : 'session_expired'
    t.equal(res.statusCode === 200 ? 'ok' : res.json().error, code, `Gatehouse's GET /me: ${c.name}`)
    // Why it ended, as every reader says it; a hash that is not the token's (no_session) is only a 401.
    if (ENDINGS.has(c.expect)) {
      const body = res.json()
      t.equal(decision(body.reason, body.cause), expected(c), `Gatehouse's GET /me says why: ${c.name}`)
    }
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
  await loadForGatehouse(ctx, cases)
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
