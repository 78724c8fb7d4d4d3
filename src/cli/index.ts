#!/usr/bin/env node
import { hostname, userInfo } from 'node:os'
import { parseArgs } from 'node:util'
import { type Config, loadConfig } from '../config/index.js'
import { withDotEnv } from '../config/dotenv.js'
import { checkDependencies } from '../startup/preflight.js'
import { migrateLegacySessions } from '../sessions/migrate-layout.js'
import { checkClientName, checkClientWindow, type ClientPolicy, formatTtl, parseTtl, type SessionTtl, type TtlState, TtlValueError } from '../sessions/session-ttl.js'
import { SESSION_PAGE_MAX } from '../sessions/types.js'
import { SESSION_LAYOUT_VERSION } from '../sessions/keys.js'
import { hasControlCharacters } from '../shared/email.js'
import { orUnavailable } from '../shared/errors.js'
import { isUserId } from '../shared/user-id.js'
import { ROLES, type Role } from '../users/roles.js'
import { openResources, type Resources } from './resources.js'

// `gatehouse`: the operator's tool. It reads the same configuration as the server (environment
// over .env) and works on the same Redis and Postgres, through the same domain code, so a change
// made here has exactly the effects the HTTP API gives it. Each command opens only what it uses
// (see resources.ts).
/** `sessions list` shows at most this many (--limit), however many the user has. */
const LIST_LIMIT_MAX = 10_000

const HELP = `Usage: gatehouse <command>

Commands:
  ttl get                          Show the session TTL in force on every instance, then each
                                   client's own policy
  ttl set <duration>               Set it: seconds (900) or 90s, 15m, 2h, 1d; at least 1 s,
                                   at most SESSION_MAX_AGE_SECONDS. Every instance applies it
                                   within 1 s, to new and existing sessions.
  ttl set <duration> --client <name> [--max-age <duration>]
                                   Give one client its own idle window, and maximum age
                                   (default and most: SESSION_MAX_AGE_SECONDS). The client is
                                   the audience its tokens are bound to at login (JWT-Aud);
                                   any client without a policy gets the global one. Live too.
  ttl reset                        Back to SESSION_TTL_SECONDS
  ttl reset --client <name>        That client back to the global policy
  sessions list --user <email|id> [--limit N]
                                   A user's live sessions, newest first:
                                   the first 100, or N (at most ${LIST_LIMIT_MAX})
  sessions revoke --user <email|id>
                                   End all of a user's sessions (by id: also those of an
                                   account whose row was deleted by hand)
  sessions revoke --client <name>  End every session of a client, for every user, at once
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

/** The latest instant RFC 3339 writes; an ending past it was written by hand and is not a time. */
const LATEST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
/** Unix ms as ISO 8601, whatever someone wrote into the config hash by hand. */
const isoTime = (ms: number) => (Number.isFinite(ms) && ms >= 0 && ms <= LATEST_MS ? new Date(ms).toISOString() : 'an unknown time')

function ttlLine (state: TtlState): string {
  const source = state.source === 'override' ? `set by ${state.setBy ?? 'unknown'}${state.setAt ? ` at ${isoTime(state.setAt)}` : ''}` : 'the default, SESSION_TTL_SECONDS'
  return `session TTL: ${formatTtl(state.seconds)}, ${source}`
}

/** 1200, 'the global TTL' → "20m (1200 s, the global TTL)". */
function durationWith (seconds: number, note: string): string {
  const text = formatTtl(seconds)
  return text.endsWith(')') ? `${text.slice(0, -1)}, ${note})` : `${text} (${note})`
}

/** A client's idle window and maximum age, its own or the global ones (a client without a policy: undefined). */
function clientWindow (policy: ClientPolicy | undefined, state: TtlState): string {
  const idle = policy?.ttlSeconds != null ? formatTtl(policy.ttlSeconds) : durationWith(state.seconds, 'the global TTL')
  const maxAge = policy?.maxAgeSeconds != null ? formatTtl(policy.maxAgeSeconds) : durationWith(state.maxSeconds, 'SESSION_MAX_AGE_SECONDS')
  return `idle ${idle}, max age ${maxAge}`
}

function clientLine (policy: ClientPolicy, state: TtlState): string {
  const who = policy.setBy === null ? '' : `, changed by ${policy.setBy}${policy.setAt === null ? '' : ` at ${isoTime(policy.setAt)}`}`
  const ended = policy.endedBefore === null
    ? ''
    : policy.endedBefore > LATEST_MS
      ? '; its ending (client_ended_before) is not a time: every session of it is refused'
      : `; its sessions created before ${isoTime(policy.endedBefore)} were ended`
  return `client ${policy.client}: ${clientWindow(policy, state)}${who}${ended}`
}

const policyOf = (state: TtlState, client: string) => state.clients.find((policy) => policy.client === client)

interface Options { user?: string; limit?: string; client?: string; 'max-age'?: string }

interface Command {
  /** Whether it reads Postgres (users); every command uses Redis. */
  postgres: boolean | ((options: Options) => boolean)
  /** The options it takes (any other is a usage error). */
  options?: Array<keyof Options>
  run(resources: Resources, args: string[], options: Options, config: Config): Promise<string>
}

/** The client `--client` names: an audience a token can be bound to (checked before anything is opened). */
function checkClientOption (client: string): void {
  if (hasControlCharacters(client)) throw new UsageError('--client: a client name holds no control characters')
  try {
    checkClientName(client)
  } catch (err) {
    throw err instanceof TtlValueError ? new UsageError(`--client: ${err.message}`) : err
  }
}

/** A duration given as `what` (e.g. "--max-age"), in seconds; the range is checked by the caller. */
function durationOption (value: string, what: string): number {
  try {
    return parseTtl(value, Number.MAX_SAFE_INTEGER)
  } catch (err) {
    throw err instanceof TtlValueError ? new UsageError(`${what}: ${err.message}`) : err
  }
}

/** `ttl set <duration> --client <name> [--max-age <duration>]`: checked in full before anything is written. */
async function setClientPolicy (ttl: SessionTtl, client: string, idleValue: string, maxAgeValue: string | undefined): Promise<string> {
  const idle = durationOption(idleValue, 'the idle window')
  const maxAge = maxAgeValue === undefined ? null : durationOption(maxAgeValue, '--max-age')
  try {
    checkClientWindow(idle, maxAge, ttl.maxSeconds)
  } catch (err) {
    throw err instanceof TtlValueError ? new UsageError(err.message) : err
  }
  // Refused now only by the cap on clients (MAX_CLIENTS): a failure (exit 1), not bad usage.
  const { before, after } = await ttl.setClient(client, idle, maxAge, operator())
  return `client ${client}: ${clientWindow(policyOf(before, client), before)} -> ${clientWindow(policyOf(after, client), after)}; every instance applies it within 1 s, to new and existing sessions`
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
  if (!email) throw new UsageError(`${command} needs --user <email|id>${command === 'sessions revoke' ? ' or --client <name>' : ''}`)
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
      const state = await (await resources.sessionTtl()).read()
      return [ttlLine(state), ...state.clients.map((policy) => clientLine(policy, state))].join('\n')
    },
  },
  'ttl set': {
    postgres: false,
    options: ['client', 'max-age'],
    async run (resources, args, { client, 'max-age': maxAge }) {
      const [value, ...extra] = args
      if (value === undefined || extra.length > 0) throw new UsageError(`ttl set needs one duration, e.g. ${client === undefined ? '15m' : '30d'}`)
      if (maxAge !== undefined && client === undefined) throw new UsageError('--max-age goes with --client: the global maximum age is SESSION_MAX_AGE_SECONDS, set in the environment')
      const ttl = await resources.sessionTtl()
      if (client !== undefined) return setClientPolicy(ttl, client, value, maxAge)
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
    options: ['client'],
    async run (resources, args, { client }) {
      noArgs(args, 'ttl reset')
      const ttl = await resources.sessionTtl()
      if (client !== undefined) {
        const { before, after } = await ttl.resetClient(client, operator())
        const had = policyOf(before, client)
        if (had?.ttlSeconds == null && had?.maxAgeSeconds == null) return `client ${client} had no policy of its own; nothing changed (it gets the global policy: ${clientWindow(undefined, after)})`
        return `client ${client}: ${clientWindow(had, before)} -> the global policy (${clientWindow(undefined, after)}); every instance applies it within 1 s`
      }
      const { before, after } = await ttl.reset(operator())
      return `session TTL: ${formatTtl(before.seconds)} -> ${formatTtl(after.seconds)} (the default); every instance applies it within 1 s`
    },
  },
  'sessions list': {
    postgres: true,
    options: ['user', 'limit'],
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
      const header = `${user.name}: ${rows.length} live session(s)${after !== undefined ? `, newest first; more may follow (--limit ${most})` : ''}`
      return [header, 'id  client  ip  created_at  last_seen_at  expires_at  user_agent', ...rows].join('\n')
    },
  },
  'sessions revoke': {
    // A client's sessions are ended in Redis alone, for every user at once.
    postgres: ({ client }) => client === undefined,
    options: ['user', 'client'],
    async run (resources, args, { user: who, client }) {
      noArgs(args, 'sessions revoke')
      if (client !== undefined) {
        if (who !== undefined) throw new UsageError('sessions revoke takes --user or --client, not both')
        const ttl = await resources.sessionTtl()
        const at = await ttl.endClient(client, operator())
        return [
          `client ${client}: every session created before ${isoTime(at)} is ended, on every instance at once (by ${operator()}).`,
          'Nothing is deleted and no events are published: those sessions are refused from now on, and their keys expire on',
          `their own, each at the end of the idle window it last had (${client}'s is now ${formatTtl(ttl.windowFor(client).ttlSeconds)}). New logins of ${client} work as before.`,
        ].join('\n')
      }
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
      // Deleted since the lookup: a failure, as for any user that is not there.
      const changed = await (await resources.accountAdmin()).changeRole(user.id, role as Role)
      if (changed === null) throw new Error(`no user with email ${email}`)
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

/** The options that take a value, as they may be spelled. */
const VALUE_OPTIONS: Record<string, string> = { '--user': '--user', '-u': '--user', '--limit': '--limit', '--client': '--client', '--max-age': '--max-age' }

/**
 * A negative number (`ttl set -5`, `--max-age -90d`) would otherwise read as an unknown option (or
 * a missing value): passed on as a value, so that parseTtl explains what is wrong with it.
 */
function negativeNumbersAsValues (argv: string[]): string[] {
  if (argv.includes('--')) return argv
  const args: string[] = []
  const positionals: string[] = []
  for (const arg of argv) {
    const option = VALUE_OPTIONS[args.at(-1) ?? '']
    if (!/^-\d/.test(arg)) args.push(arg)
    else if (option) args.splice(-1, 1, `${option}=${arg}`)
    else positionals.push(arg)
  }
  return positionals.length > 0 ? [...args, '--', ...positionals] : args
}

async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: negativeNumbersAsValues(argv),
    options: {
      help: { type: 'boolean', short: 'h' },
      user: { type: 'string', short: 'u' },
      limit: { type: 'string' },
      client: { type: 'string' },
      'max-age': { type: 'string' },
    },
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
  const { help: _, ...options } = values
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && !run.options?.includes(name as keyof Options)) throw new UsageError(`${area} ${command} takes no --${name}`)
  }
  if (options.client !== undefined) checkClientOption(options.client)

  const { config } = loadConfig(withDotEnv(process.env))
  await checkDependencies(config, { postgres: typeof run.postgres === 'function' ? run.postgres(options) : run.postgres })
  const resources = openResources(config)
  try {
    console.log(await run.run(resources, rest, options, config))
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
    // A StartupError (a setting, Redis or Postgres down at the start), a GatehouseError (e.g. Redis
    // unavailable, with the driver's reason) and the rest: one line, no stack.
    const reason = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message.trim().split('\n').at(-1)}` : ''
    console.error(`gatehouse: ${err instanceof Error ? err.message : String(err)}${reason}`)
    process.exit(1)
  }
)
