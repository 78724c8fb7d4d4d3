import bcrypt from 'bcryptjs'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { BCRYPT_COST, DATABASE_URL, importBuilt, PASSWORD } from './harness.js'

/**
 * Users and live sessions for `npm run bench`, made in seconds: the users straight into Postgres
 * (one bcrypt hash, computed once, for all of them), the sessions with THIS checkout's built
 * session store and token service, exactly as a login writes and signs them (src/core/login.ts),
 * so the Redis layout stays the API's own. Everything here is removed by the harness' `cleanUp`
 * (the users by their email domain, the sessions by the key prefix).
 */

export interface BenchUser {
  id: string
  email: string
  /** Unix ms, as the session hash stores it. */
  createdAt: number
}

/** What a login from the bench would record (the device is shown in GET /sessions). */
const DEVICE = { client: '', userAgent: 'gatehouse-bench', ip: '127.0.0.1' }

/**
 * Inserts users as Prisma writes them (prisma/migrations): a v4 UUID made by the client, the email
 * lower-case, UTC times without a zone, the role left to its default (user). All share one hash of
 * PASSWORD at the API's cost, so any of them can log in through the API.
 */
export async function insertUsers (emails: string[]): Promise<BenchUser[]> {
  const hash = await bcrypt.hash(PASSWORD, BCRYPT_COST)
  const createdAt = Date.now()
  const users = emails.map((email) => ({ id: randomUUID(), email: email.toLowerCase(), createdAt }))
  const db = new pg.Client({ connectionString: DATABASE_URL })
  await db.connect()
  try {
    await db.query(
      `INSERT INTO users (id, email, password_hash, created_at, updated_at)
       SELECT u.id, u.email, $3, t.at, t.at
       FROM unnest($1::uuid[], $2::text[]) AS u(id, email),
            (SELECT to_timestamp($4::double precision / 1000) AT TIME ZONE 'UTC' AS at) AS t`,
      [users.map((u) => u.id), users.map((u) => u.email), hash, createdAt]
    )
  } finally {
    await db.end()
  }
  return users
}

interface Store {
  generation(userId: string): Promise<string>
  create(input: object): Promise<{ id: string; createdAt: number; maxExpiresAt: number; evicted: string[] } | null>
}

/**
 * `count` sessions, session i for user i mod users.length (so consecutive tokens belong to
 * different users), created and signed as a login does with the Config the API was given (`env`:
 * the same JWT secret and key prefix). Returns their tokens, in that order.
 */
export async function createSessions (env: Record<string, string>, users: BenchUser[], count: number): Promise<string[]> {
  const [{ loadConfig }, { openResources }, { createTokenService }] = await Promise.all([
    importBuilt('config/index.js'), importBuilt('cli/resources.js'), importBuilt('tokens/tokens.js'),
  ])
  const { config } = loadConfig({ ...process.env, ...env })
  // More than the cap per user and the store would end the user's first sessions to make room.
  const perUser = Math.ceil(count / users.length)
  if (perUser > config.sessionMaxPerUser) {
    throw new Error(`BENCH_SESSIONS / BENCH_SESSION_USERS is ${perUser} sessions per user, over the API's SESSION_MAX_PER_USER (${config.sessionMaxPerUser})`)
  }
  const resources = openResources(config)
  try {
    const store: Store = await resources.sessions()
    const tokens = createTokenService(config.jwt)
    const generations = await Promise.all(users.map((user) => store.generation(user.id)))
    const create = async (i: number): Promise<string> => {
      const user = users[i % users.length]!
      const session = await store.create({
        userId: user.id,
        role: 'user',
        email: user.email,
        userCreatedAt: user.createdAt,
        device: DEVICE,
        generation: generations[i % users.length],
      })
      if (!session || session.evicted.length > 0) throw new Error(`creating bench session ${i} for ${user.email}: ${session ? 'evicted others' : 'refused (stale generation)'}`)
      // The claims a login signs (src/core/login.ts).
      return tokens.sign({
        jti: session.id,
        user_id: user.id,
        created_at: session.createdAt,
        iat: Math.floor(session.createdAt / 1000),
        exp: session.maxExpiresAt / 1000,
      })
    }
    const all: string[] = []
    // In batches: the client pipelines a batch's scripts, without queueing 10,000 at once.
    for (let from = 0; from < count; from += 500) {
      all.push(...await Promise.all(Array.from({ length: Math.min(500, count - from) }, (_, k) => create(from + k))))
    }
    return all
  } finally {
    await resources.close()
  }
}
