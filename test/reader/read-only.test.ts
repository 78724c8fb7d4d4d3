import { generateKeyPairSync } from 'node:crypto'
import { createSessionReader } from '@gatehouse/session-reader'
import { Redis } from 'ioredis'
import t from 'tap'
import { startPrivateRedis } from '../faults/private-redis.js'
import { buildTestApp } from '../helpers/app.js'
import { call, newAdmin, newSession } from '../helpers/http.js'
import { sleep } from '../helpers/wait.js'

// Read-only by construction: the library sends no write command. Proved twice, on a redis-server
// of the test's own: Redis itself enforces an ACL that allows reading only, and MONITOR shows
// every command the reader's connection sent.

t.test('a reader logged in as a read-only ACL user does its whole job; MONITOR sees no write', async (t) => {
  const redis = await startPrivateRedis(t)
  const signing = generateKeyPairSync('ed25519')
  const ctx = await buildTestApp(t, { REDIS_URL: redis.url, JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: signing.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() })
  const prefix = ctx.config.redisKeyPrefix
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  // Reading commands on Gatehouse's keys, read-only scripts, and what a client needs to connect.
  await admin.call('ACL', 'SETUSER', 'session-reader', 'on', '>reader-password-0123456789', 'resetkeys', `%R~${prefix}*`, 'resetchannels',
    '-@all', '+@read', '+eval_ro', '+evalsha_ro', '+time', '+ping', '+info', '+client|setname')

  const client = new Redis(redis.url, { username: 'session-reader', password: 'reader-password-0123456789', connectionName: 'the-reader' })
  t.teardown(() => client.disconnect())
  await client.ping()
  await t.rejects(client.hset(`${prefix}sess:{x}:y`, 'v', '3'), /NOPERM/, 'the ACL does refuse writes')
  await t.rejects(client.eval("return redis.call('DEL', KEYS[1])", 1, `${prefix}config`), /NOPERM/, 'even from a script')

  const monitor = new Redis(redis.url)
  t.teardown(() => monitor.disconnect())
  const seen: string[] = []
  const feed = await monitor.monitor()
  t.teardown(() => feed.disconnect())
  feed.on('monitor', (_time: string, args: string[], source: string) => { if (source.includes(String(client.stream.localPort))) seen.push(args.join(' ')) })
  await sleep(100)

  const reader = createSessionReader({ redis: client, keyPrefix: prefix, keys: { publicKeys: [signing.publicKey.export({ format: 'pem', type: 'spki' }).toString()] } })
  const { token } = await newSession(ctx)
  const owner = await newAdmin(ctx)
  t.match(await reader.read(token), { live: true }, 'live')
  t.match(await reader.read(token), { live: true }, 'again (the script is cached now)')
  await admin.call('SCRIPT', 'FLUSH')
  t.match(await reader.read(token), { live: true }, 'after SCRIPT FLUSH: EVAL_RO, then EVALSHA_RO again')
  t.equal((await call(ctx.app, 'PUT', '/admin/settings/session-ttl', owner.token, { ttl_seconds: 600 })).statusCode, 200)
  await sleep(1100) // the TTL is cached for a second
  t.match(await reader.read(token), { live: true })
  t.equal((await call(ctx.app, 'DELETE', '/sessions/current', token)).statusCode, 204)
  t.same(await reader.read(token), { live: false, reason: 'logged_out' }, 'its own logout, remembered')
  await sleep(200)

  const names = seen.map((line) => line.split(' ')[0]!.toUpperCase())
  t.ok(names.includes('EVALSHA_RO') && names.includes('EVAL_RO'), `the reads were seen: ${[...new Set(names)].join(', ')}`)
  const allowed = new Set(['EVALSHA_RO', 'EVAL_RO', 'HGET', 'HGETALL', 'GET', 'PTTL', 'TIME', 'PING', 'INFO', 'CLIENT', 'AUTH', 'HELLO', 'SELECT'])
  t.same(names.filter((name) => !allowed.has(name)), [], 'nothing but reads')
})
