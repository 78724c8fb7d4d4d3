import Fastify from 'fastify'
import { Redis } from 'ioredis'

/**
 * The practical limit for "one Redis round trip per request": a minimal Fastify server whose one
 * route does a single PEXPIRE and answers a small JSON the size of GET /me's. No auth, no hooks,
 * no logs. `npm run bench` runs it beside the API and reports the API's figures as ratios to it.
 *
 * Env: PORT, REDIS_URL, BENCH_KEY (the key it slides, created by the bench).
 */
const port = Number(process.env.PORT)
const key = process.env.BENCH_KEY ?? 'gatehouse-bench:baseline'
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
const app = Fastify()
const user = { id: '5f0c6d2e-8a43-4b7e-9d38-0c7f1e2a9b11', email: 'someone@example.com', role: 'user', createdAt: '2026-11-23T12:00:00.000Z' }

app.get('/me', async (_request, reply) => {
  if ((await redis.pexpire(key, 1_200_000)) !== 1) return reply.code(401).send({ error: 'session_expired' })
  return { user }
})

await new Promise((resolve) => redis.once('ready', resolve))
await app.listen({ port, host: '127.0.0.1' })
process.once('SIGTERM', () => {
  void app.close().then(() => redis.quit()).then(() => process.exit(0))
})
