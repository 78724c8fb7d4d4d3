/** Schemas every resource shares. */
import { ENDED_REASONS, REVOKED_CAUSES } from '@gatehouse/session-reader/answers'
import { ROLES } from '../users/roles.js'

export const errorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string' },
    message: { type: 'string' },
    // Only beside session_expired (docs/api.md, "Why a session ended").
    reason: { type: 'string', enum: ENDED_REASONS, description: 'With session_expired: why the session ended (idle, max_age, logged_out, revoked)' },
    cause: { type: 'string', enum: REVOKED_CAUSES, description: 'With reason revoked, when known: what revoked it' },
  },
} as const

export const user = {
  type: 'object',
  required: ['id', 'email', 'role', 'createdAt', 'emailVerifiedAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', format: 'uuid' },
    email: { type: 'string' },
    role: { type: 'string', enum: ROLES },
    createdAt: { type: 'string', format: 'date-time' },
    emailVerifiedAt: { type: ['string', 'null'], format: 'date-time', description: 'When the user confirmed the email with a mailed token; null until then' },
  },
} as const

export const userResponse = {
  type: 'object',
  required: ['user'],
  additionalProperties: false,
  properties: { user },
} as const

export const timestamp = { type: 'string', format: 'date-time' } as const

/** A 204: no body. */
export const noContent = { type: 'null', description: 'No content' } as const
