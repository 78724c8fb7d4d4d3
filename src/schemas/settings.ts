import { AUDIENCE_PATTERN } from '@gatehouse/session-reader/token'
import { timestamp } from './common.js'

/** `maxSeconds`: SESSION_MAX_AGE_SECONDS, the bound the document states and the schema enforces. */
export const sessionTtlBody = (maxSeconds: number) => ({
  type: 'object',
  required: ['ttl_seconds'],
  additionalProperties: false,
  properties: { ttl_seconds: { type: 'integer', minimum: 1, maximum: maxSeconds, description: `At most SESSION_MAX_AGE_SECONDS (${maxSeconds} here)` } },
} as const)

/** One client's policy as ops set it (docs/ops.md, "Client policies"); null: the global value applies. */
export const clientPolicy = {
  type: 'object',
  required: ['client', 'idle_timeout_seconds', 'max_age_seconds', 'ended_before', 'set_by', 'set_at'],
  additionalProperties: false,
  properties: {
    client: { type: 'string', description: 'The audience its tokens are bound to (JWT-Aud at login)' },
    idle_timeout_seconds: { type: ['integer', 'null'], description: 'Its idle window; null: the global TTL in force' },
    max_age_seconds: { type: ['integer', 'null'], description: 'Its sessions\' absolute lifetime; null: SESSION_MAX_AGE_SECONDS' },
    ended_before: { anyOf: [timestamp, { type: 'null' }], description: 'Ops ended every session of this client created before this instant; null: never' },
    set_by: { type: ['string', 'null'] },
    set_at: { anyOf: [timestamp, { type: 'null' }] },
  },
} as const

export const sessionTtlResponse = {
  type: 'object',
  required: ['ttl_seconds', 'source', 'default_ttl_seconds', 'max_ttl_seconds', 'set_by', 'set_at', 'clients'],
  additionalProperties: false,
  properties: {
    ttl_seconds: { type: 'integer', description: 'The TTL in force' },
    source: { type: 'string', enum: ['override', 'default'], description: 'override: set at run time; default: SESSION_TTL_SECONDS' },
    default_ttl_seconds: { type: 'integer' },
    max_ttl_seconds: { type: 'integer', description: 'SESSION_MAX_AGE_SECONDS' },
    set_by: { type: ['string', 'null'] },
    set_at: { anyOf: [timestamp, { type: 'null' }] },
    clients: { type: 'array', items: clientPolicy, description: 'The clients with a policy of their own (or whose sessions ops ended), by name; any other client gets the global policy' },
  },
} as const

/**
 * A client named in a path: an audience a token can be bound to, URL-encoded (`ios%2Fbeta` for
 * `ios/beta`). Anything else is a 400: it could never be a session's client.
 */
export const clientParams = {
  type: 'object',
  required: ['client'],
  additionalProperties: false,
  properties: { client: { type: 'string', pattern: AUDIENCE_PATTERN.source, description: 'The client: the audience its tokens are bound to (JWT-Aud), 1-128 of letters, digits and ._:/-' } },
} as const

/**
 * `maxSeconds`: SESSION_MAX_AGE_SECONDS, which bounds both (the document states it, the schema
 * enforces it); that the idle window fits the maximum age is checked in the route.
 */
export const clientPolicyBody = (maxSeconds: number) => ({
  type: 'object',
  required: ['idle_timeout_seconds'],
  additionalProperties: false,
  properties: {
    idle_timeout_seconds: { type: 'integer', minimum: 1, maximum: maxSeconds, description: `At most the client's maximum age, and SESSION_MAX_AGE_SECONDS (${maxSeconds} here)` },
    max_age_seconds: { type: ['integer', 'null'], minimum: 1, maximum: maxSeconds, description: `Absent or null: SESSION_MAX_AGE_SECONDS (${maxSeconds} here), which is also the most` },
  },
} as const)

export const clientEnded = {
  type: 'object',
  required: ['ended_before'],
  additionalProperties: false,
  properties: { ended_before: { ...timestamp, description: 'Every session of the client created before this instant is over' } },
} as const
