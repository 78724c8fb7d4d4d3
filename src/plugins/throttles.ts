import type { FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/index.js'
import type { RedisClient } from '../redis/client.js'
import { type OnQuota, quotaSizes } from '../throttle/quotas.js'
import { createThrottles, type Throttles } from '../throttle/throttles.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Brute-force limits on password checks and sign-ups, shared through Redis. */
    throttles: Throttles
  }
}

export function openThrottles (redis: RedisClient, config: Config, onLimited?: (limit: string) => void): Throttles {
  return createThrottles(redis, { ...config.throttle, keyPrefix: config.redisKeyPrefix, onLimited })
}

/**
 * The IETF RateLimit header fields, in the syntax of draft-ietf-httpapi-ratelimit-headers-11
 * (Structured Field Lists, RFC 9651): a browser app reads them only if CORS exposes them
 * (app.ts, `exposedHeaders`), and the OpenAPI document declares them on the limited routes.
 */
export const RATE_LIMIT_FIELDS = ['RateLimit-Policy', 'RateLimit'] as const

/** What each field says, for the OpenAPI document's `headers` of the limited routes' answers. */
export const RATE_LIMIT_FIELD_DESCRIPTIONS: Record<(typeof RATE_LIMIT_FIELDS)[number], string> = {
  'RateLimit-Policy':
    'The limits this request was counted under (draft-ietf-httpapi-ratelimit-headers-11): a list of `"<policy>";q=<quota>;w=<window seconds>`, ' +
    'e.g. `"login";q=10;w=900, "login-ip";q=100;w=900`. The same on every answer of the route. docs/api.md, "Rate limit headers".',
  RateLimit:
    'What is left after this request: a list of `"<policy>";r=<remaining>;t=<seconds>`, e.g. `"login";r=3;t=840, "login-ip";r=97;t=840`. ' +
    'On a 429, only the policy that refused it, with `r=0` and `t` equal to Retry-After. Counts only the caller\'s own address, ' +
    'or the email named from the caller\'s network: never attempts from other networks.',
}

/**
 * Sets the RateLimit-Policy and RateLimit fields on `reply` once the request has been counted
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
