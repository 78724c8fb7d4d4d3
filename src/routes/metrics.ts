import type { FastifyPluginAsync } from 'fastify'

/**
 * Prometheus scrape endpoint. Counts and latencies only, nothing about any one user; still, serve
 * it to your Prometheus only (see docs/ops.md, "Monitoring").
 */
export const metricsRoutes: FastifyPluginAsync = async (app) => {
  const { metrics } = app
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}
