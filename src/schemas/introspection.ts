import { MAX_TOKEN_LENGTH } from '@gatehouse/session-reader/credentials'
import { ROLES } from '../users/roles.js'

/** RFC 7662 §2.1; `extend` is Gatehouse's: slide the session's TTL as a request of its own would. */
export const introspectionBody = {
  type: 'object',
  required: ['token'],
  additionalProperties: false,
  properties: {
    token: { type: 'string', minLength: 1, maxLength: MAX_TOKEN_LENGTH },
    token_type_hint: { type: 'string', maxLength: 64 },
    // Strings too: a form-encoded body has no booleans.
    extend: { enum: [true, false, 'true', 'false'], default: false },
  },
} as const

/** RFC 7662 §2.2: an inactive token is `{ active: false }` and nothing else. */
export const introspectionResponse = {
  type: 'object',
  required: ['active'],
  additionalProperties: false,
  properties: {
    active: { type: 'boolean' },
    sub: { type: 'string', description: 'The user id' },
    user_id: { type: 'string' },
    role: { type: 'string', enum: ROLES },
    jti: { type: 'string', description: 'The session id' },
    iss: { type: 'string', description: 'JWT_ISSUER (absent for a token issued before tokens named their issuer)' },
    aud: { type: 'string', description: 'The client the token is bound to, if it is: the caller must check its request names it (JWT_AUD_HEADER)' },
    token_type: { type: 'string', enum: ['access_token'] },
    iat: { type: 'integer' },
    exp: { type: 'integer', description: 'Unix seconds: the absolute end of the session' },
    created_at: { type: 'integer', description: 'Unix ms' },
    last_seen_at: { type: 'integer', description: 'Unix ms' },
    expires_at: { type: 'integer', description: 'Unix ms: when the sliding window runs out if unused' },
  },
} as const
