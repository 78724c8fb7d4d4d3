#!/usr/bin/env node
import { hostname, userInfo } from 'node:os'
import { parseArgs } from 'node:util'
import { type Config, loadConfig } from '../config/index.js'
import { withDotEnv } from '../config/dotenv.js'
import { checkDependencies } from '../db/preflight.js'
import { migrateLegacySessions } from '../sessions/migrate-layout.js'
import { formatTtl, parseTtl, type TtlState, TtlValueError } from '../sessions/session-ttl.js'
import { SESSION_LAYOUT_VERSION, SESSION_PAGE_MAX } from '../sessions/store.js'
import { hasControlCharacters } from '../shared/email.js'
import { orUnavailable } from '../shared/errors.js'
import { isUserId } from '../shared/user-id.js'
import { ROLES, type Role } from '../users/roles.js'
import { openResources, type Resources } from './resources.js'

/**
 * `gatehouse`: the operator's tool. It reads the same configuration as the server (environment
 * over .env) and works on the same Redis and Postgres, through the same domain code, so a change
 * made here has exactly the effects the HTTP API gives it. Each command opens only what it uses
 * (see resources.ts).
 */
/** `sessions list` shows at most this many (--limit), however many the user has. */
const LIST_LIMIT_MAX = 10_000

const HELP = `Usage: gatehouse <command>

Commands:
  ttl get                          Show the session TTL in force on every instance
  ttl set <duration>               Set it: seconds (900) or 90s, 15m, 2h, 1d; at least 1 s,
                                   at most SESSION_MAX_AGE_SECONDS. Every instance applies it
                                   within 1 s, to new and existing sessions.
  ttl reset                        Back to SESSION_TTL_SECONDS
  sessions list --user <email|id> [--limit N]
                                   A user's live sessions, most recently used first:
                                   the first 100, or N (at most ${LIST_LIMIT_MAX})
  sessions revoke --user <email|id>
                                   End all of a user's sessions (by id: also those of an
                                   account whose row was deleted by hand)
  sessions migrate                 Move sessions an older release wrote (layout 2) to the
                                   current key names; the server also does it at start-up
  users set-role <email> <${ROLES.join('|')}>   Set a user's role and end all their sessions
                                   (the way to create the first admin)
  users delete <email>             Delete a user and end all their sessions (the way to
                                   delete an account: sessions do not look at Postgres)

Options:
  -h, --help   Show this help

Exit codes: 0 done, 1 failed (e.g. no such user, Redis or Postgres unavailable), 2 bad usage.
Configuration comes from the environment and .env, as for the server (docs/configuration.md).`

class UsageError extends Error {}

/** Who made a change, as the logs and the config hash record it: the operator's login on this host. */
function operator (): string {
  let name = process.env.SUDO_USER || process.env.USER || ''
  try {
    name ||= userInfo().username
  } catch {
    name ||= 'unknown'
  }
  return `cli ${name}@${hostname()}`
}

function ttlLine (state: TtlState): string {
  const source = state.source === 'override' ? `set by ${state.setBy ?? 'unknown'}${state.setAt ? ` at ${new Date(state.setAt).toISOString()}` : ''}` : 'the default, SESSION_TTL_SECONDS'
  return `session TTL: ${formatTtl(state.seconds)}, ${source}`
}

interface Command {
  /** Whether it reads Postgres (users); every command uses Redis. */
  postgres: boolean
  run(resources: Resources, args: string[], options: { user?: string; limit?: string }, config: Config): Promise<string>
}

function listLimit (value: string | undefined): number {
  if (value === undefined) return SESSION_PAGE_MAX
  if (!/^[1-9][0-9]*$/.test(value) || Number(value) > LIST_LIMIT_MAX) throw new UsageError(`--limit must be a whole number from 1 to ${LIST_LIMIT_MAX} (got "${value}")`)
  return Number(value)
}

function noArgs (args: string[], command: string) {
  if (args.length > 0) throw new UsageError(`${command} takes no arguments (got "${args.join(' ')}")`)
}

/**
 * Whose sessions `--user` names: an email (the user must exist), or a user id as the API writes
 * it (a lower-case UUID; any other spelling would name other Redis keys). An id works for a user
 * whose row is gone too, so the sessions of an account deleted by hand can still be ended.
 */
async function sessionsOwner (resources: Resources, value: string | undefined, command: string): Promise<{ id: string; name: string }> {
  if (value?.includes('@') !== false) {
    const user = await userByEmail(resources, value, command)
    return { id: user.id, name: user.email }
  }
  if (!isUserId(value)) throw new UsageError(`--user takes an email or a user id as the API writes it, a UUID in lower case (got "${value}")`)
  const user = await (await resources.users()).findById(value)
  return { id: value, name: user?.email ?? `user ${value} (no account)` }
}

async function userByEmail (resources: Resources, email: string | undefined, command: string) {
  if (!email) throw new UsageError(`${command} needs --user <email|id>`)
  if (hasControlCharacters(email)) throw new UsageError(`${JSON.stringify(email)} is not an email: it holds a control character`)
  const user = await (await resources.users()).findByEmail(email)
  if (!user) throw new Error(`no user with email ${email}`)
  return user
}

const COMMANDS: Record<string, Command> = {
  'ttl get': {
    postgres: false,
    async run (resources, args) {
      noArgs(args, 'ttl get')
      return ttlLine(await (await resources.sessionTtl()).read())
    },
  },
  'ttl set': {
    postgres: false,
    async run (resources, args) {
      const ttl = await resources.sessionTtl()
      const [value, ...extra] = args
      if (value === undefined || extra.length > 0) throw new UsageError('ttl set needs one duration, e.g. 15m')
      let seconds: number
      try {
        seconds = parseTtl(value, ttl.maxSeconds)
      } catch (err) {
        throw err instanceof TtlValueError ? new UsageError(err.message) : err
      }
      const { before, after } = await ttl.set(seconds, operator())
      return `session TTL: ${formatTtl(before.seconds)} -> ${formatTtl(after.seconds)}; every instance applies it within 1 s`
    },
  },
  'ttl reset': {
    postgres: false,
    async run (resources, args) {
      noArgs(args, 'ttl reset')
      const { before, after } = await (await resources.sessionTtl()).reset(operator())
      return `session TTL: ${formatTtl(before.seconds)} -> ${formatTtl(after.seconds)} (the default); every instance applies it within 1 s`
    },
  },
  'sessions list': {
    postgres: true,
    async run (resources, args, { user: who, limit }) {
      noArgs(args, 'sessions list')
      const most = listLimit(limit)
      const user = await sessionsOwner(resources, who, 'sessions list')
      const sessions = await resources.sessions()
      const iso = (ms: number) => new Date(ms).toISOString()
      const rows: string[] = []
      // Page by page: each page is one bounded read, however many sessions the user has; and a
      // bounded number of pages, even if many index entries turn out not to be live sessions.
      let after: string | undefined
      for (let pages = 0; pages < Math.ceil(most / SESSION_PAGE_MAX) + 10 && rows.length < most; pages++) {
        const page = await sessions.list(user.id, { limit: Math.min(SESSION_PAGE_MAX, most - rows.length), after })
        for (const s of page.sessions) {
          rows.push([s.id, s.client || '-', s.ip || '-', iso(s.createdAt), iso(s.lastSeenAt), iso(s.expiresAt), JSON.stringify(s.userAgent)].join('  '))
        }
        after = page.next ?? undefined
        if (after === undefined) break
      }
      if (rows.length === 0 && after === undefined) return `${user.name} has no live sessions`
      const header = `${user.name}: ${rows.length} live session(s)${after !== undefined ? `, most recently used first; more may follow (--limit ${most})` : ''}`
      return [header, 'id  client  ip  created_at  last_seen_at  expires_at  user_agent', ...rows].join('\n')
    },
  },
  'sessions revoke': {
    postgres: true,
    async run (resources, args, { user: who }) {
      noArgs(args, 'sessions revoke')
      const user = await sessionsOwner(resources, who, 'sessions revoke')
      const ended = await (await resources.sessions()).revokeAll(user.id, { reason: 'admin' })
      return `${user.name}: ${ended} session(s) ended (by ${operator()})`
    },
  },
  'sessions migrate': {
    postgres: false,
    async run (resources, args, _options, config) {
      noArgs(args, 'sessions migrate')
      const redis = await resources.redis()
      const { moved, dropped, gone } = await orUnavailable('redis', () => migrateLegacySessions(redis, config.redisKeyPrefix))
      return `layout-2 sessions: ${moved} moved to layout ${SESSION_LAYOUT_VERSION}, ${dropped} dropped (revoked since), ${gone} gone meanwhile`
    },
  },
  'users set-role': {
    postgres: true,
    async run (resources, args) {
      const [email, role, ...extra] = args
      if (!email || !role || extra.length > 0) throw new UsageError('users set-role needs <email> and <role>')
      if (!ROLES.includes(role as Role)) throw new UsageError(`role must be one of ${ROLES.join(', ')} (got "${role}")`)
      const user = await userByEmail(resources, email, 'users set-role')
      const before = user.role
      await (await resources.accountAdmin()).changeRole(user.id, role as Role)
      return before === role ? `${user.email} already has role ${role}; nothing changed` : `${user.email}: role ${before} -> ${role}; their sessions were ended`
    },
  },
  'users delete': {
    postgres: true,
    async run (resources, args) {
      const [email, ...extra] = args
      if (!email || extra.length > 0) throw new UsageError('users delete needs <email>')
      const user = await userByEmail(resources, email, 'users delete')
      const ended = await (await resources.accountAdmin()).deleteUser(user.id, 'cli')
      if (ended === null) throw new Error(`no user with email ${email}`)
      return `${user.email}: deleted, ${ended} session(s) ended (by ${operator()})`
    },
  },
}

async function main (argv: string[]): Promise<number> {
  // A negative TTL (`ttl set -5`) would otherwise read as an unknown option; let parseTtl explain it.
  const args = argv.length > 0 && /^-\d/.test(argv.at(-1) ?? '') ? [...argv.slice(0, -1), '--', ...argv.slice(-1)] : argv
  const { values, positionals } = parseArgs({
    args,
    options: { help: { type: 'boolean', short: 'h' }, user: { type: 'string', short: 'u' }, limit: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  })
  if (values.help || positionals.length === 0) {
    console.log(HELP)
    return values.help ? 0 : 2
  }
  const [area = '', command = '', ...rest] = positionals
  const run = COMMANDS[`${area} ${command}`]
  if (!run) throw new UsageError(`unknown command: ${positionals.slice(0, 2).join(' ')}`)
  if (values.user !== undefined && area !== 'sessions') throw new UsageError(`${area} ${command} takes no --user`)
  if (values.limit !== undefined && `${area} ${command}` !== 'sessions list') throw new UsageError(`${area} ${command} takes no --limit`)

  const { config } = loadConfig(withDotEnv(process.env))
  await checkDependencies(config, { postgres: run.postgres })
  const resources = openResources(config)
  try {
    console.log(await run.run(resources, rest, values, config))
    return 0
  } finally {
    await resources.close()
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      console.error(`gatehouse: ${err.message}\nRun gatehouse --help for usage.`)
      process.exit(2)
    }
    // ConfigError, GatehouseError (e.g. Redis unavailable, with the driver's reason) and the rest: one line, no stack.
    const reason = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message.trim().split('\n').at(-1)}` : ''
    console.error(`gatehouse: ${err instanceof Error ? err.message : String(err)}${reason}`)
    process.exit(1)
  }
)
