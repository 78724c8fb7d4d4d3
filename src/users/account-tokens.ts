import { createHash, randomBytes } from 'node:crypto'
import type { Database } from '../db/prisma.js'
import type { Prisma } from '../generated/prisma/client.js'
import { orUnavailable } from '../shared/errors.js'

/** What a mailed token is good for (the `purpose` column): a token of one is nothing to the other. */
export type TokenPurpose = 'password_reset' | 'email_verification'

/** 32 random bytes (256 bits) in base64url: exactly this shape, nothing else is ever a token. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/

/** Expired rows removed per token issued: bounded work that keeps the table from growing with users who never come back. */
const PRUNE_BATCH = 100

/** The transaction a redeemed token's change runs in, with the token's deletion. */
export type Transaction = Prisma.TransactionClient

export interface AccountTokens {
  /** A new token for the user; only its hash is stored. */
  issue(userId: string, purpose: TokenPurpose, ttlMinutes: number): Promise<string>
  /** The user a live token of this purpose names, without using it up: a cheap check before costly work. Null for anything else. */
  peek(token: string, purpose: TokenPurpose): Promise<string | null>
  /**
   * Uses a reset token up and sets the new password hash; every other reset token of the user dies
   * with it. The mail reached the user, so the email counts as confirmed too (if it was not). The
   * user's id and email, or null when the token is not live.
   */
  resetPassword(token: string, passwordHash: string): Promise<{ id: string, email: string } | null>
  /**
   * Uses a verification token up and marks the email confirmed (once: a later confirmation keeps
   * the first time). The user's id and that time (Unix ms), or null when the token is not live.
   */
  verifyEmail(token: string): Promise<{ userId: string, verifiedAt: number } | null>
}

/** SHA-256 of the token: the table never holds a token itself, so reading it lets nobody in. */
const hashOf = (token: string) => createHash('sha256').update(token).digest('base64url')

export function createAccountTokens (db: Database): AccountTokens {
  /**
   * Uses the token up and runs `change` for its user, in one transaction: of two concurrent
   * redemptions exactly one runs `change` (the other finds the row gone), and a `change` that
   * fails leaves the token unused. Null when the token is not live (used, expired, unknown,
   * malformed, another purpose's): one answer for all.
   */
  const redeem = <T>(token: string, purpose: TokenPurpose, change: (tx: Transaction, userId: string) => Promise<T>) =>
    orUnavailable('postgres', async () => {
      if (!TOKEN_PATTERN.test(token)) return null
      const hash = hashOf(token)
      return db.$transaction(async (tx) => {
        // The user's row is locked first, as a deletion of the user or a password change locks it
        // before the token rows (ON DELETE CASCADE, the nested deleteMany): the same order in both,
        // so they queue instead of deadlocking.
        const [named] = await tx.$queryRaw<Array<{ user_id: string }>>`SELECT user_id::text FROM account_tokens WHERE hash = ${hash}`
        if (!named) return null
        await tx.$queryRaw`SELECT 1 FROM users WHERE id = ${named.user_id}::uuid FOR UPDATE`
        // DELETE ... RETURNING: of two concurrent redemptions, the second (queued on the lock above) deletes nothing.
        const [row] = await tx.$queryRaw<Array<{ user_id: string }>>`
          DELETE FROM account_tokens
          WHERE hash = ${hash} AND purpose = ${purpose}::"AccountTokenPurpose" AND expires_at > now()
          RETURNING user_id::text`
        if (!row) return null
        return change(tx, row.user_id)
      })
    })

  return {
    issue: (userId, purpose, ttlMinutes) =>
      orUnavailable('postgres', async () => {
        const token = randomBytes(32).toString('base64url')
        const now = new Date()
        await db.accountToken.create({ data: { hash: hashOf(token), userId, purpose, expiresAt: new Date(now.getTime() + ttlMinutes * 60_000) } })
        await db.$executeRaw`DELETE FROM account_tokens WHERE hash IN (SELECT hash FROM account_tokens WHERE expires_at <= ${now} LIMIT ${PRUNE_BATCH})`
        return token
      }),
    peek: (token, purpose) =>
      orUnavailable('postgres', async () => {
        if (!TOKEN_PATTERN.test(token)) return null
        const row = await db.accountToken.findUnique({ where: { hash: hashOf(token) } })
        return row && row.purpose === purpose && row.expiresAt.getTime() > Date.now() ? row.userId : null
      }),
    resetPassword: (token, passwordHash) =>
      redeem(token, 'password_reset', async (tx, userId) => {
        await tx.user.updateMany({ where: { id: userId, emailVerifiedAt: null }, data: { emailVerifiedAt: new Date() } })
        return tx.user.update({
          where: { id: userId },
          data: { passwordHash, accountTokens: { deleteMany: { purpose: 'password_reset' } } },
          select: { id: true, email: true },
        })
      }),
    verifyEmail: (token) =>
      redeem(token, 'email_verification', async (tx, userId) => {
        // The first confirmation's time stays: a second mail's link changes nothing.
        await tx.user.updateMany({ where: { id: userId, emailVerifiedAt: null }, data: { emailVerifiedAt: new Date() } })
        await tx.accountToken.deleteMany({ where: { userId, purpose: 'email_verification' } })
        const user = await tx.user.findUniqueOrThrow({ where: { id: userId }, select: { emailVerifiedAt: true } })
        return { userId, verifiedAt: user.emailVerifiedAt!.getTime() }
      }),
  }
}
