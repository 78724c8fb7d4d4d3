import type { FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { openThrottles } from '../resources/throttles.js'
import { type OnQuota, quotaSizes } from '../throttle/quotas.js'
import type { Throttles } from '../throttle/throttles.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Brute-force limits on password checks and sign-ups, shared through Redis. */
    throttles: Throttles
  }
}

/**
 * Sets the IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers-11:
 * Structured Field Lists, RFC 9651) on `reply` once the request has been counted
 * (success, 401 and 429 alike: the error handler keeps headers set before the throw). Built from
 * what the limiters answered while counting: no Redis round trip of its own.
 */
export function quotaFields (reply: FastifyReply): OnQuota {
  return ({ policies, states }) => {
    const sizes = quotaSizes(reply.server.config.throttle)
    // Policy names are fixed ASCII words: an sf-string needs no escaping for them.
    reply.header('RateLimit-Policy', policies.map((policy) => `"${policy}";q=${sizes[policy].quota};w=${sizes[policy].windowSeconds}`).join(', '))
    reply.header('RateLimit', states.map(({ policy, remaining, resetSeconds }) => `"${policy}";r=${remaining};t=${resetSeconds}`).join(', '))
  }
}

export default fp(async (app) => {
  const { metrics, activity } = app
  // Every refusal is one 429 (the only place a 429 is made): counted for Prometheus and the console's chart.
  app.decorate('throttles', openThrottles(app.redis, app.config, (limit) => {
    metrics.throttled.inc({ limit })
    activity.count('throttled')
  }))
}, { name: 'throttles', dependencies: ['config', 'redis', 'metrics', 'activity'] })
