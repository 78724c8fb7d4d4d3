import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { httpErrorOf } from '../http/error-map.js'
import { alive, notReady, ready } from '../schemas/health.js'
import { type Dependency, errors, type GatehouseError } from '../shared/errors.js'
import { succeedsWithin } from '../shared/time-limit.js'

type Check = 'ok' | 'down'

/** How long /ready waits for each dependency before calling it down. */
const READY_TIMEOUT_MS = 1000

/** Set once a shutdown has begun: from then on this instance should get no new traffic. */
export interface Lifecycle {
  draining: boolean
}

export const healthRoutes: FastifyPluginAsync<{ lifecycle: Lifecycle }> = async (app, { lifecycle }) => {
  const { redis, db } = app
  // Liveness: the process is up and serving. Deliberately checks nothing else.
  app.get('/health', { schema: { operationId: 'health', summary: 'Liveness', response: { 200: alive } } }, async () => ({ status: 'ok' }))

  // Readiness: both dependencies answer, so this instance can serve traffic.
  app.get('/ready', { schema: { operationId: 'ready', summary: 'Readiness: Redis and PostgreSQL answer', response: { 200: ready, 503: notReady } } }, async (_request, reply) => {
    if (lifecycle.draining) {
      // Load balancers stop sending new requests; the ones in flight still finish.
      return notReadyAnswer(reply, errors.shuttingDown())
    }
    const [redisCheck, postgresCheck] = await Promise.all([
      probe(() => redis.ping()),
      probe(() => db.$queryRaw`SELECT 1`),
    ])
    const checks = { redis: redisCheck, postgres: postgresCheck }
    if (redisCheck === 'ok' && postgresCheck === 'ok') return { status: 'ready', checks }
    const down = Object.entries(checks).filter(([, state]) => state === 'down').map(([name]) => name as Dependency)
    return notReadyAnswer(reply, errors.notReady(down), checks)
  })
}

/** The catalogue's not_ready answer (status, Retry-After, body), with the checks beside it when there are any. */
function notReadyAnswer (reply: FastifyReply, err: GatehouseError, checks?: Record<Dependency, Check>) {
  const { status, headers, body } = httpErrorOf(err)
  return reply.code(status).headers(headers).send(checks ? { ...body, checks } : body)
}

async function probe (check: () => Promise<unknown>): Promise<Check> {
  return (await succeedsWithin(READY_TIMEOUT_MS, check)) ? 'ok' : 'down'
}
