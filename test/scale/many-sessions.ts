import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { startPrivateRedis } from '../faults/private-redis.js'
import { addSessions, buildTestApp, storeOf, type TestContext } from '../helpers/app.js'
import { login, me, newSession, signUp } from '../helpers/http.js'
import { sleep } from '../helpers/wait.js'

// A user with 100,000 sessions, on a redis-server of the test's own so that its SLOWLOG holds only
// what Gatehouse sent. Shared by the test/scale/many-sessions-*.test.ts files.

/** How many sessions the heavy user holds: the "at least 100,000". */
export const MANY = 100_000

/**
 * No single Redis command Gatehouse sends may take longer than this. Each one does a bounded
 * amount of work, about 2 ms here (a page of 100 sessions, a sweep of 50; docs/performance.md has
 * the measured spread); the rest of the margin is for a loaded CI machine descheduling Redis in the
 * middle of a command: with six 100,000-session files among three jobs on two cores, an HMGET of
 * one hash took 23.6 ms in CI, and 21-53 ms were seen at a load of 8 (20 ms was the bound until
 * then); later one XADD to a stream capped at 1,000 entries took 142 ms in CI (100 ms was the
 * bound then): each file's private Redis runs at the same raised priority as the others', so they
 * deschedule each other. Before bounded batches, one listing or revoke-all of 50,000 sessions took
 * over a second: 250 ms still tells the two apart by a factor of four.
 */
export const SLOW_BOUND_MS = 250

export interface SlowCommand {
  micros: number
  command: string
}

export interface ManySessions {
  ctx: TestContext
  /** Gives the user `MANY` sessions, through create-session-n.lua as logins do. */
  populate(user: { id: string; email: string; createdAt: string }): Promise<void>
  /** A new user with two sessions of their own (by login), then `MANY` more. */
  heavyUser(): Promise<{ email: string; user: { id: string; email: string; createdAt: string }; token: string; other: string }>
  /**
   * Runs `work` while another user keeps calling GET /me. Returns the commands Redis logged as
   * slower than SLOW_BOUND_MS meanwhile, and every status the other user got.
   */
  watch(work: () => Promise<void>): Promise<{ slow: SlowCommand[]; bystander: number[] }>
}

export async function manySessions (t: Test, env: Record<string, string> = {}): Promise<ManySessions> {
  // A higher priority (as root, e.g. in CI) keeps this busy machine's scheduling out of SLOWLOG.
  const redis = await startPrivateRedis(t, { niceness: -10 })
  // No cap (SESSION_MAX_PER_USER=0), as a deployment that opts out of it; a short stream.
  const ctx = await buildTestApp(t, { REDIS_URL: redis.url, SESSION_MAX_PER_USER: '0', EVENTS_MAX_LENGTH: '1000', ...env })
  const store = await storeOf(t, ctx, { publish: false })
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  await admin.config('SET', 'slowlog-log-slower-than', String(SLOW_BOUND_MS * 1000))
  await admin.config('SET', 'slowlog-max-len', '1024')
  const bystander = await newSession(ctx)

  return {
    ctx,
    async populate (user) {
      await addSessions(store, user, MANY)
    },
    async heavyUser () {
      const email = ctx.email()
      const user = await signUp(ctx.app, email)
      const { token } = await login(ctx.app, email)
      const { token: other } = await login(ctx.app, email)
      await addSessions(store, user, MANY)
      return { email, user, token, other }
    },
    async watch (work) {
      await admin.slowlog('RESET')
      let running = true
      const statuses: number[] = []
      const loop = (async () => {
        while (running) {
          statuses.push((await me(ctx.app, `Token token=${bystander.token}`)).statusCode)
          await sleep(2) // a steady trickle of requests while the work runs
        }
      })()
      try {
        await work()
      } finally {
        running = false
        await loop
      }
      const entries = (await admin.slowlog('GET', 1024)) as [number, number, number, string[]][]
      const slow = entries
        .map(([, , micros, args]) => ({ micros, command: args.slice(0, 2).join(' ') }))
        // The test's own client reading the log is not Gatehouse.
        .filter((entry) => !/^slowlog/i.test(entry.command))
      return { slow, bystander: statuses }
    },
  }
}

/** The checks every heavy operation must pass. */
export function expectBounded (t: Test, { slow, bystander }: { slow: SlowCommand[]; bystander: number[] }, what: string): void {
  t.same(slow, [], `${what}: no Redis command over ${SLOW_BOUND_MS} ms`)
  t.ok(bystander.length > 0, `${what}: another user made ${bystander.length} requests meanwhile`)
  t.ok(bystander.every((status) => status === 200), `${what}: and every one got 200`)
}
