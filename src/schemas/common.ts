// Schemas every resource shares.
import type { PublicUser } from '../users/repository.js'
import { ROLES } from '../users/roles.js'

export const user = {
  type: 'object',
  required: ['id', 'email', 'role', 'created_at', 'email_verified_at', 'createdAt', 'emailVerifiedAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', format: 'uuid' },
    email: { type: 'string' },
    role: { type: 'string', enum: ROLES },
    created_at: { type: 'string', format: 'date-time', description: 'When the user signed up' },
    email_verified_at: { type: ['string', 'null'], format: 'date-time', description: 'When the user confirmed the email with a mailed token; null until then' },
    createdAt: { type: 'string', format: 'date-time', deprecated: true, description: 'Deprecated: created_at, under its old camelCase name; removed in the next release (docs/api.md)' },
    emailVerifiedAt: { type: ['string', 'null'], format: 'date-time', deprecated: true, description: 'Deprecated: email_verified_at, under its old camelCase name; removed in the next release (docs/api.md)' },
  },
} as const

/**
 * A user as the API shows it: snake_case like every other field, with the camelCase names of
 * earlier releases beside them for one release (docs/api.md, "Deprecated fields").
 */
export function userView (user: PublicUser) {
  const { id, email, role, createdAt, emailVerifiedAt } = user
  return { id, email, role, created_at: createdAt, email_verified_at: emailVerifiedAt, createdAt, emailVerifiedAt }
}

export const userResponse = {
  type: 'object',
  required: ['user'],
  additionalProperties: false,
  properties: { user },
} as const

export const timestamp = { type: 'string', format: 'date-time' } as const

/** A 204: no body. */
export const noContent = { type: 'null', description: 'No content' } as const

/**
 * `?limit=` of a listing: 1 to 100 as a query string (no type coercion here). Every listing pages
 * by at most 100; its own maximum is typed as that literal, so changing one fails here rather than
 * leaving the pattern to say something else.
 */
export function pageLimit (items: string, max: 100, fallback: number) {
  return { type: 'string', pattern: '^([1-9]|[1-9][0-9]|100)$', description: `${items} per page, 1 to ${max} (default ${fallback})` } as const
}
