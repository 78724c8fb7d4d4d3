import { timestamp } from './common.js'

export const sessionTtlBody = {
  type: 'object',
  required: ['ttl_seconds'],
  additionalProperties: false,
  // The upper bound (SESSION_MAX_AGE_SECONDS) is checked in the route, with a message that names it.
  properties: { ttl_seconds: { type: 'integer', minimum: 1 } },
} as const

export const sessionTtlResponse = {
  type: 'object',
  required: ['ttl_seconds', 'source', 'default_ttl_seconds', 'max_ttl_seconds', 'set_by', 'set_at'],
  additionalProperties: false,
  properties: {
    ttl_seconds: { type: 'integer', description: 'The TTL in force' },
    source: { type: 'string', enum: ['override', 'default'], description: 'override: set at run time; default: SESSION_TTL_SECONDS' },
    default_ttl_seconds: { type: 'integer' },
    max_ttl_seconds: { type: 'integer', description: 'SESSION_MAX_AGE_SECONDS' },
    set_by: { type: ['string', 'null'] },
    set_at: { anyOf: [timestamp, { type: 'null' }] },
  },
} as const
