import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { Cluster, Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { closeRedis, connectRedis, createRedisClient } from '../../src/redis/client.js'
import type { SessionEvent } from '../../src/sessions/events.js'
import { sessionKeys } from '../../src/sessions/keys.js'
import { sessionScripts, TOUCH_WRITE_INTERVAL_MS, VARIABLE_KEY_SCRIPTS } from '../../src/sessions/scripts/index.js'
import { createSessionStore, type SessionStore } from '../../src/sessions/store.js'
import { type Device } from '../../src/sessions/types.js'
import { testConfig } from '../helpers/config.js'
import { deleteKeys } from '../helpers/redis.js'

// The session scripts (src/sessions/scripts/) at the level of the store, against the real Redis
// and without the HTTP layer: the one liveness rule (includes/session-state.lua) as touch, peek
// and list each apply it, and the packed argument of create-session-n.lua.

const TTL_SECONDS = 600
const device: Device = { client: 'test', userAgent: 'scripts.test', ip: '127.0.0.1' }

/** A store on a key prefix of its own (deleted at teardown), its client, and the events it published. */
async function storeFor (t: Test, { ttlSeconds = () => TTL_SECONDS }: { ttlSeconds?: () => number } = {}) {
  const config = testConfig()
  const prefix = config.redisKeyPrefix
  const redis = createRedisClient({ target: config.redis, commandTimeoutMs: 10_000, logger: { warn: () => {}, info: () => {} } })
  await connectRedis(redis, 5000)
  t.teardown(async () => {
    await deleteKeys(redis, prefix)
    await closeRedis(redis)
  })
  const events: SessionEvent[] = []
  const store = createSessionStore(redis, {
    keyPrefix: prefix,
    ttlSeconds,
    maxAgeSeconds: 3600,
    maxPerUser: 0,
    events: async (batch) => { events.push(...batch) },
  })
  /** Redis' clock, Unix ms: the one the scripts use. */
  const now = async () => {
    const [seconds, micros] = await redis.time()
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  }
  return { store, redis, keys: sessionKeys(prefix), events, now }
}

async function newSession (store: SessionStore, userId: string, input: Partial<{ role: string; email: string; userCreatedAt: number; emailVerifiedAt: number; device: Device }> = {}) {
  const session = await store.create({
    userId,
    role: 'user',
    email: `${userId}@scripts.test`,
    userCreatedAt: 1_700_000_000_123,
    device,
    generation: await store.generation(userId),
    ...input,
  })
  if (!session) throw new Error('the login was refused as stale')
  return session
}

/** What each of the three readers says of a session: touch last, since it may end it. */
async function seenBy (store: SessionStore, id: string, userId: string) {
  const peeked = await store.peek(id, userId) !== null
  const listed = (await store.list(userId)).sessions.some((s) => s.id === id)
  const touched = await store.touch(id, userId) !== null
  return { touched, peeked, listed }
}
const live = { touched: true, peeked: true, listed: true }
const refused = { touched: false, peeked: false, listed: false }

t.test('a new session is live to touch, peek and list alike', async (t) => {
  const { store } = await storeFor(t)
  const userId = randomUUID()
  const { id } = await newSession(store, userId)
  t.same(await seenBy(store, id, userId), live)
})

t.test("below the user's cutoff: refused by touch, peek and list alike, and never extended", async (t) => {
  const { store, redis, keys, events } = await storeFor(t)
  const userId = randomUUID()
  const { id } = await newSession(store, userId)
  await store.cutOff(userId)
  const { id: fresh } = await newSession(store, userId)
  const expiry = await redis.pexpiretime(keys.session(userId, id))

  t.same(await seenBy(store, id, userId), refused)
  t.equal(await redis.pexpiretime(keys.session(userId, id)), expiry, 'touch did not extend it')
  t.equal(await redis.exists(keys.session(userId, id)), 1, 'its keys wait for the sweep')
  t.same(events.filter((e) => e.type === 'expired'), [], 'and nothing says it expired')
  t.same(await seenBy(store, fresh, userId), live, 'a session created after the cutoff is live')
})

t.test('past max_expires_at: refused by touch, peek and list alike; touch ends it', async (t) => {
  const { store, redis, keys, events, now } = await storeFor(t)
  const userId = randomUUID()
  const { id } = await newSession(store, userId)
  await redis.hset(keys.session(userId, id), 'max_expires_at', String(await now() - 1))

  t.same(await seenBy(store, id, userId), refused)
  t.equal(await redis.exists(keys.session(userId, id), keys.owner(userId, id)), 0, 'touch deleted hash and owner key')
  t.same(await redis.zrange(keys.index(userId), '0', '-1'), [], 'and the index entry')
  t.same(events.filter((e) => e.type === 'expired'), [{ type: 'expired', sessionId: id, userId, reason: 'max-age', client: device.client }], 'with the session\'s client, read by the script that ended it')
})

t.test('idle past the TTL in force: refused by touch, peek and list alike; touch ends it', async (t) => {
  const { store, redis, keys, events, now } = await storeFor(t)
  const userId = randomUUID()
  const { id: idle } = await newSession(store, userId)
  const { id: recent } = await newSession(store, userId)
  await redis.hset(keys.session(userId, idle), 'last_seen_at', String(await now() - TTL_SECONDS * 1000 - 5000))
  await redis.hset(keys.session(userId, recent), 'last_seen_at', String(await now() - TTL_SECONDS * 1000 + 5000))

  t.same(await seenBy(store, idle, userId), refused)
  t.equal(await redis.exists(keys.session(userId, idle)), 0, 'touch deleted it')
  t.same(events.filter((e) => e.type === 'expired'), [{ type: 'expired', sessionId: idle, userId, reason: 'idle', client: device.client }])
  t.same(await seenBy(store, recent, userId), live, 'one used just within the TTL is live')
})

t.test('another user id: refused by touch, peek and list alike, and nothing is written', async (t) => {
  const { store, redis, keys } = await storeFor(t)
  const owner = randomUUID()
  const other = randomUUID()
  const { id } = await newSession(store, owner)
  // The owner's hash copied under the other user's key and index, as if planted: its user_id
  // still names the owner, so the rule refuses it.
  const planted = keys.session(other, id)
  const hash = await redis.hgetall(keys.session(owner, id))
  await redis.hset(planted, hash)
  await redis.pexpire(planted, 60_000)
  await redis.zadd(keys.index(other), await redis.pexpiretime(planted), id)
  const before = await redis.pexpiretime(planted)

  t.same(await seenBy(store, id, other), refused)
  t.same(await redis.hgetall(planted), hash, 'the planted hash is unchanged')
  t.equal(await redis.pexpiretime(planted), before, 'and not extended')
  t.same(await redis.zrange(keys.index(other), '0', '-1'), [], 'the listing pruned the index entry')
  t.same(await seenBy(store, id, owner), live, "the owner's session is live")
})

t.test('the packed login argument of create-session-n.lua round-trips every documented field', async (t) => {
  const { store, redis, keys } = await storeFor(t)
  // The fields of a session hash, as docs/session-contract.md's table lists them.
  const contract = readFileSync(new URL('../../docs/session-contract.md', import.meta.url), 'utf8')
  const table = contract.slice(contract.indexOf('### `<prefix>sess:{<user_id>}:<jti>`'), contract.indexOf('### `<prefix>user:{<user_id>}:sessions`'))
  const documented = [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]).sort()
  t.equal(documented.length, 14, 'the table was found')

  const userId = randomUUID()
  const cases: Array<{ name: string; device: Device; userAgent?: string; emailVerifiedAt?: number }> = [
    { name: 'quotes, backslashes, control characters and non-ASCII text', emailVerifiedAt: 1_234_567_890_999, device: { client: 'web (v2.1)/x_y-z', userAgent: 'Mozilla/5.0 "quoted" \\ back\tslash é ü ÿ 😀 {"json": [1]}', ip: '2001:db8::1' } },
    { name: 'empty strings', device: { client: '', userAgent: '', ip: '' } },
    // ioredis sends such a string's UTF-8 bytes, the lone surrogate as U+FFFD; so does the packing.
    { name: 'a lone surrogate', device: { client: 'x', userAgent: 'lone \ud800 surrogate', ip: '::1' }, userAgent: 'lone \ufffd surrogate' },
  ]
  for (const { name, device, userAgent, emailVerifiedAt } of cases) {
    const session = await newSession(store, userId, { role: 'admin', email: 'o\'brien+tag@example.com', userCreatedAt: 1_234_567_890_123, emailVerifiedAt, device })
    const hash = await redis.hgetall(keys.session(userId, session.id))
    t.same(Object.keys(hash).sort(), documented, `${name}: every documented field, and no other`)
    t.same(hash, {
      v: '3',
      user_id: userId,
      role: 'admin',
      created_at: String(session.createdAt),
      last_seen_at: String(session.createdAt),
      max_expires_at: String(session.maxExpiresAt),
      client: device.client,
      user_agent: userAgent ?? device.userAgent,
      ip: device.ip,
      email: 'o\'brien+tag@example.com',
      user_created_at: '1234567890123',
      email_verified_at: emailVerifiedAt === undefined ? '' : String(emailVerifiedAt),
      aud: '',
      generation: '0',
    }, `${name}: each value as given`)
    t.equal(session.maxExpiresAt, Math.floor((session.createdAt + 3600 * 1000) / 1000) * 1000, 'the absolute end, in whole seconds')
    t.equal(await redis.pexpiretime(keys.session(userId, session.id)), session.createdAt + TTL_SECONDS * 1000, 'the sliding TTL')
    t.equal(await redis.get(keys.owner(userId, session.id)), userId, 'the owner key')
    t.equal(await redis.pexpiretime(keys.owner(userId, session.id)), session.maxExpiresAt + 3600 * 1000, 'kept an hour past the absolute end')
  }

  await store.cutOff(userId)
  const { id } = await newSession(store, userId)
  t.equal(await redis.hget(keys.session(userId, id), 'generation'), await redis.get(keys.cutoff(userId)), 'a session created after a cutoff carries it')
  t.equal(await store.create({ userId, role: 'user', email: 'x@scripts.test', userCreatedAt: 0, device, generation: '' }), null, 'a login that read the generation before the cutoff is refused')
})

t.test("Redis' clock and the index expiry are written once, in includes/", async (t) => {
  const dir = new URL('../../src/sessions/scripts/', import.meta.url)
  const scripts = readdirSync(dir).filter((file) => file.endsWith('.lua'))
  t.ok(scripts.length >= 10)
  for (const file of scripts) {
    const source = readFileSync(new URL(file, dir), 'utf8')
    t.notMatch(source, /'TIME'/, `${file}: the clock comes from includes/clock.lua`)
    t.notMatch(source, /-1, -1, 'WITHSCORES'/, `${file}: the index expiry comes from includes/user-index.lua`)
    t.notMatch(source, /\bcutoff\b\s*[<>]|[<>]\s*cutoff\b/, `${file}: the cutoff is compared by includes/session-state.lua`)
    const header = source.slice(0, source.indexOf('--- @include') >= 0 ? source.indexOf('--- @include') : undefined)
    t.match(header, /-- KEYS\[1\]/, `${file}: its header says its KEYS`)
    t.match(header, /-- Returns/, `${file}: and what it returns`)
  }
})

t.test('every script is registered by its file name, and those taking their key count first stay out of auto-pipelining', async (t) => {
  const dir = new URL('../../src/sessions/scripts/', import.meta.url)
  const files = readdirSync(dir).filter((file) => file.endsWith('.lua'))
  for (const file of files) t.match(file, /^[a-z-]+-(\d+|n)\.lua$/, `${file}: <name>-<number of keys>.lua`)
  const variable = files.filter((file) => file.endsWith('-n.lua')).map((file) => file.slice(0, -'-n.lua'.length).replace(/-([a-z])/g, (_dash, letter: string) => letter.toUpperCase())).sort()
  t.same([...VARIABLE_KEY_SCRIPTS].sort(), variable, 'the -n scripts')
  t.ok(variable.length >= 3)
  // A Cluster would group such a command by its first argument, the key count, not a key.
  const single = new Redis({ lazyConnect: true })
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true })
  try {
    for (const client of [single, cluster]) {
      sessionScripts(client, 'gatehouse-test-autopipelining:')
      for (const name of variable) t.ok(client.options.autoPipeliningIgnoredCommands?.includes(name), `${client.constructor.name}: ${name} is not auto-pipelined`)
      for (const file of files.filter((f) => !f.endsWith('-n.lua'))) {
        const name = file.replace(/-\d+\.lua$/, '').replace(/-([a-z])/g, (_dash, letter: string) => letter.toUpperCase())
        t.notOk(client.options.autoPipeliningIgnoredCommands?.includes(name), `${client.constructor.name}: ${name} is`)
      }
    }
    // ioredis' default list is shared by every client of the process: it must not be changed.
    t.same(new Redis({ lazyConnect: true }).options.autoPipeliningIgnoredCommands, [], 'a later client of the process is untouched')
  } finally {
    single.disconnect()
    cluster.disconnect()
  }
})

// touch-session-6.lua writes a session's use at most once per TOUCH_WRITE_INTERVAL_MS (a tenth of the
// TTL if shorter). The tests move last_seen_at back rather than wait for the clock.

/** What a touch may write: last_seen_at, the key's expiry and the index score. */
async function written (redis: Awaited<ReturnType<typeof storeFor>>['redis'], keys: ReturnType<typeof sessionKeys>, userId: string, id: string) {
  return {
    lastSeenAt: Number(await redis.hget(keys.session(userId, id), 'last_seen_at')),
    expiry: await redis.pexpiretime(keys.session(userId, id)),
    score: Number(await redis.zscore(keys.index(userId), id)),
  }
}

t.test('a touch within the write interval writes nothing; the first one after it slides the session', async (t) => {
  const { store, redis, keys, now } = await storeFor(t)
  const userId = randomUUID()
  const { id } = await newSession(store, userId)
  const before = await written(redis, keys, userId, id)
  t.ok(await store.touch(id, userId), 'live')
  t.same(await written(redis, keys, userId, id), before, 'just after the login: nothing written')

  const earlier = await now() - TOUCH_WRITE_INTERVAL_MS - 1
  await redis.hset(keys.session(userId, id), 'last_seen_at', String(earlier))
  const from = await now()
  t.ok(await store.touch(id, userId))
  const after = await written(redis, keys, userId, id)
  const to = await now()
  t.ok(after.lastSeenAt >= from && after.lastSeenAt <= to, 'last_seen_at written')
  t.equal(after.expiry, after.lastSeenAt + TTL_SECONDS * 1000, 'the window slid')
  t.equal(after.score, after.expiry, 'and the index score with it')
})

t.test('a TTL ops changed applies at the next touch, even within the write interval', async (t) => {
  let ttl = TTL_SECONDS
  const { store, redis, keys } = await storeFor(t, { ttlSeconds: () => ttl })
  const userId = randomUUID()
  const { id } = await newSession(store, userId)
  // Lowered, by a lot and by less than the interval (the key would outlive the new window), then raised.
  for (const changed of [TTL_SECONDS / 2, TTL_SECONDS / 2 - 0.5, TTL_SECONDS * 2]) {
    ttl = changed
    t.ok(await store.touch(id, userId))
    const { lastSeenAt, expiry, score } = await written(redis, keys, userId, id)
    t.equal(expiry, lastSeenAt + changed * 1000, `the window is the new TTL, ${changed} s`)
    t.equal(score, expiry)
  }
})

t.test('with a TTL under ten seconds the write interval is a tenth of it', async (t) => {
  const ttlMs = 9000
  const { store, redis, keys, now } = await storeFor(t, { ttlSeconds: () => ttlMs / 1000 })
  const userId = randomUUID()
  const { id } = await newSession(store, userId)
  const key = keys.session(userId, id)
  /** As if the last write had been `ago` ms ago: last_seen_at and the key's expiry both moved back. */
  const lastWrite = async (ago: number) => {
    const at = await now() - ago
    await redis.hset(key, 'last_seen_at', String(at))
    await redis.pexpireat(key, at + ttlMs)
    return at
  }
  const recent = await lastWrite(100)
  t.ok(await store.touch(id, userId))
  t.equal((await written(redis, keys, userId, id)).lastSeenAt, recent, 'well within 900 ms of a write: nothing written')
  const older = await lastWrite(950)
  t.ok(await store.touch(id, userId))
  t.ok((await written(redis, keys, userId, id)).lastSeenAt > older, 'past 900 ms (a tenth of 9 s, under the 1 s interval): written')
})
