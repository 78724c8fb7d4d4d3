import { Prisma } from '../generated/prisma/client.js'
import type { Database } from '../db/prisma.js'
import { errors, orUnavailable } from '../shared/errors.js'
import { hasControlCharacters, normaliseEmail } from '../shared/email.js'
import { isUserId } from '../shared/user-id.js'
import { Role } from './roles.js'
import { listUsers, type UserListRequest, type UserPage } from './user-list.js'

export { Role, ROLES } from './roles.js'

/** What the API shows of a user: never the password hash. */
export interface PublicUser {
  id: string
  email: string
  role: Role
  createdAt: string
  /** When the user confirmed the email (a mailed token), or null. */
  emailVerifiedAt: string | null
}

export interface UserRecord extends PublicUser {
  passwordHash: string
}

export interface UserRepository {
  /** Throws `email_taken` (409) when the (normalised) email exists. */
  create(email: string, passwordHash: string): Promise<PublicUser>
  findByEmail(email: string): Promise<UserRecord | null>
  /** Only the canonical spelling of an id finds its user (see user-id.ts); any other is no one. */
  findById(id: string): Promise<UserRecord | null>
  /** The emails of those of `ids` that exist, in one query (the caller bounds the list); ids in no canonical spelling are no one. */
  emailsOf(ids: string[]): Promise<Map<string, string>>
  /** Null when the user does not exist. Outstanding password-reset tokens die with the old password. */
  setPasswordHash(id: string, passwordHash: string): Promise<PublicUser | null>
  /** Sets a new hash only while the stored one is still `expected`; true if it did. */
  replacePasswordHash(id: string, expected: string, passwordHash: string): Promise<boolean>
  /** Null when the user does not exist. */
  setRole(id: string, role: Role): Promise<PublicUser | null>
  /** False when the user does not exist. */
  delete(id: string): Promise<boolean>
  /** The admin's list: a page of users, newest first, all or those whose email holds `query` (user-list.ts). */
  list(request: UserListRequest): Promise<UserPage>
}

export function publicUser ({ passwordHash: _, ...user }: UserRecord): PublicUser {
  return user
}

export function createUserRepository (db: Database): UserRepository {
  /** An update of a user who does not exist (P2025) is "no such user", not an outage. */
  const update = (id: string, data: Prisma.UserUpdateInput) =>
    orUnavailable('postgres', async () => {
      if (!isUserId(id)) return null
      try {
        return toPublic(await db.user.update({ where: { id }, data }))
      } catch (err) {
        if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025') return null
        throw err
      }
    })

  return {
    create: (email, passwordHash) =>
      orUnavailable('postgres', async () => {
        try {
          const user = await db.user.create({ data: { email: normaliseEmail(email), passwordHash } })
          return toPublic(user)
        } catch (err) {
          if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') throw errors.emailTaken()
          throw err
        }
      }),
    findByEmail: (email) =>
      orUnavailable('postgres', async () => {
        if (hasControlCharacters(email)) return null
        const user = await db.user.findUnique({ where: { email: normaliseEmail(email) } })
        return user && toRecord(user)
      }),
    findById: (id) =>
      orUnavailable('postgres', async () => {
        if (!isUserId(id)) return null
        const user = await db.user.findUnique({ where: { id } })
        return user && toRecord(user)
      }),
    emailsOf: (ids) =>
      orUnavailable('postgres', async () => {
        const valid = [...new Set(ids.filter(isUserId))]
        if (valid.length === 0) return new Map()
        const users = await db.user.findMany({ where: { id: { in: valid } }, select: { id: true, email: true } })
        return new Map(users.map((user) => [user.id, user.email]))
      }),
    setPasswordHash: (id, passwordHash) =>
      update(id, { passwordHash, accountTokens: { deleteMany: { purpose: 'password_reset' } } }),
    replacePasswordHash: (id, expected, passwordHash) =>
      orUnavailable('postgres', async () => {
        const { count } = await db.user.updateMany({ where: { id, passwordHash: expected }, data: { passwordHash } })
        return count === 1
      }),
    setRole: (id, role) => update(id, { role }),
    delete: (id) =>
      orUnavailable('postgres', async () => {
        if (!isUserId(id)) return false
        const { count } = await db.user.deleteMany({ where: { id } })
        return count === 1
      }),
    list: (request) => listUsers(db, request),
  }
}

interface UserRow {
  id: string
  email: string
  role: Role
  passwordHash: string
  createdAt: Date
  emailVerifiedAt: Date | null
}

function toPublic (user: UserRow): PublicUser {
  return { id: user.id, email: user.email, role: user.role, createdAt: user.createdAt.toISOString(), emailVerifiedAt: user.emailVerifiedAt?.toISOString() ?? null }
}

function toRecord (user: UserRow): UserRecord {
  return { ...toPublic(user), passwordHash: user.passwordHash }
}
