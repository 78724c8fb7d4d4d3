import { Prisma } from '../generated/prisma/client.js'
import type { Database } from '../db/prisma.js'
import { errors, orUnavailable } from '../http/errors.js'

/** What the API shows of a user: never the password hash. */
export interface PublicUser {
  id: string
  email: string
  createdAt: string
}

export interface UserWithHash extends PublicUser {
  passwordHash: string
}

export interface UserRepository {
  /** Throws `email_taken` (409) when the (normalised) email exists. */
  create(email: string, passwordHash: string): Promise<PublicUser>
  findByEmail(email: string): Promise<UserWithHash | null>
  findById(id: string): Promise<PublicUser | null>
}

/** Emails are compared case-insensitively: stored trimmed and lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase()
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function createUserRepository(db: Database): UserRepository {
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
        const user = await db.user.findUnique({ where: { email: normaliseEmail(email) } })
        return user && { ...toPublic(user), passwordHash: user.passwordHash }
      }),
    findById: (id) =>
      orUnavailable('postgres', async () => {
        // A malformed id would be a database error; it simply matches no one.
        if (!UUID.test(id)) return null
        const user = await db.user.findUnique({ where: { id } })
        return user && toPublic(user)
      }),
  }
}

function toPublic(user: { id: string; email: string; createdAt: Date }): PublicUser {
  return { id: user.id, email: user.email, createdAt: user.createdAt.toISOString() }
}
