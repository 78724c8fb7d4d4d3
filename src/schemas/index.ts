/**
 * JSON schemas: the single source of request validation and response serialisation
 * (a response can only ever contain the fields listed here).
 */
import { MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH } from '../users/passwords.js'

export const errorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const

export const user = {
  type: 'object',
  required: ['id', 'email', 'createdAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', format: 'uuid' },
    email: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const

export interface Credentials {
  email: string
  password: string
}

export const signUpBody = {
  type: 'object',
  required: ['email', 'password'],
  additionalProperties: false,
  properties: {
    email: { type: 'string', format: 'email', maxLength: 254 },
    // Length in characters here; the 72-byte bcrypt limit is checked on the UTF-8 bytes in the route.
    password: { type: 'string', minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_BYTES },
  },
} as const

/** Login accepts any strings: a malformed email or password simply does not match (401). */
export const loginBody = {
  type: 'object',
  required: ['email', 'password'],
  additionalProperties: false,
  properties: {
    email: { type: 'string', minLength: 1, maxLength: 254 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const

export const userResponse = {
  type: 'object',
  required: ['user'],
  additionalProperties: false,
  properties: { user },
} as const

export const loginResponse = {
  type: 'object',
  required: ['user', 'token'],
  additionalProperties: false,
  properties: { user, token: { type: 'string' } },
} as const
