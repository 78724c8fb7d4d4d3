import { responseHeaders } from './errors.js'

// GET /health, GET /ready and the JWKS: what load balancers and other services read.

export const alive = {
  type: 'object',
  required: ['status'],
  additionalProperties: false,
  description: 'The process is up and serving (nothing else is checked)',
  properties: { status: { type: 'string', enum: ['ok'] } },
} as const

const checks = {
  type: 'object',
  required: ['redis', 'postgres'],
  additionalProperties: false,
  description: 'Each dependency, as answered within a second',
  properties: { redis: { type: 'string', enum: ['ok', 'down'] }, postgres: { type: 'string', enum: ['ok', 'down'] } },
} as const

export const ready = {
  type: 'object',
  required: ['status', 'checks'],
  additionalProperties: false,
  description: 'Redis and PostgreSQL both answer: send traffic here',
  properties: { status: { type: 'string', enum: ['ready'] }, checks },
} as const

export const notReady = {
  type: 'object',
  required: ['error', 'message'],
  additionalProperties: false,
  description: 'A dependency is down (`checks` says which), or the instance is shutting down (no `checks`): send no new traffic here',
  headers: responseHeaders('Retry-After'),
  properties: { error: { type: 'string', enum: ['not_ready'] }, message: { type: 'string' }, checks },
} as const

export const jwkSet = {
  type: 'object',
  required: ['keys'],
  additionalProperties: false,
  description: 'The public keys tokens are verified with (RFC 7517): pick the key by the token\'s `kid`, and refetch on an unknown kid. Empty with HS256, whose secret is never published',
  headers: responseHeaders('Cache-Control'),
  properties: {
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kty', 'kid', 'alg', 'use'],
        additionalProperties: true,
        properties: {
          kty: { type: 'string', description: '`OKP` for Ed25519, `RSA`, `EC`' },
          kid: { type: 'string', description: 'The RFC 7638 thumbprint' },
          alg: { type: 'string', description: 'The one algorithm this key verifies (e.g. `EdDSA`)' },
          use: { type: 'string', enum: ['sig'] },
          crv: { type: 'string' },
          x: { type: 'string' },
          y: { type: 'string' },
          n: { type: 'string' },
          e: { type: 'string' },
        },
      },
    },
  },
} as const
