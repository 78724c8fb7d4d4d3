#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { createServices, type Services } from '../app.js'
import { loadConfig } from '../config/index.js'
import { withDotEnv } from '../config/dotenv.js'
import { checkDependencies } from '../db/preflight.js'
import { ROLES, type Role } from '../users/repository.js'

/**
 * `gatehouse`: the operator's tool. It reads the same configuration as the server (environment
 * over .env) and works on the same Redis and Postgres, through the same services, so a change
 * made here has exactly the effects the HTTP API gives it.
 */
const HELP = `Usage: gatehouse <command>

Commands:
  users set-role <email> <${ROLES.join('|')}>   Set a user's role and end all their sessions
                                       (the way to create the first admin)

Options:
  -h, --help   Show this help

Exit codes: 0 done, 1 failed (e.g. no such user, Redis or Postgres unavailable), 2 bad usage.
Configuration comes from the environment and .env, as for the server (see README).`

class UsageError extends Error {}

async function setRole(services: Services, args: string[]): Promise<string> {
  const [email, role, ...extra] = args
  if (!email || !role || extra.length > 0) throw new UsageError('users set-role needs <email> and <role>')
  if (!ROLES.includes(role as Role)) throw new UsageError(`role must be one of ${ROLES.join(', ')} (got "${role}")`)
  const user = await services.users.findByEmail(email)
  if (!user) throw new Error(`no user with email ${email}`)
  const before = user.role
  await services.account.changeRole(user.id, role as Role)
  return before === role ? `${user.email} already has role ${role}; nothing changed` : `${user.email}: role ${before} -> ${role}; their sessions were ended`
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true })
  if (values.help || positionals.length === 0) {
    console.log(HELP)
    return values.help ? 0 : 2
  }
  const [area, command, ...rest] = positionals
  if (area !== 'users' || command !== 'set-role') throw new UsageError(`unknown command: ${positionals.slice(0, 2).join(' ')}`)

  const { config } = loadConfig(withDotEnv(process.env))
  await checkDependencies(config)
  const services = await createServices(config, { warn: () => {}, info: () => {} })
  try {
    console.log(await setRole(services, rest))
    return 0
  } finally {
    await services.close()
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      console.error(`gatehouse: ${err.message}\nRun gatehouse --help for usage.`)
      process.exit(2)
    }
    // ConfigError, AppError (e.g. Redis unavailable, with the driver's reason) and the rest: one line, no stack.
    const reason = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message.trim().split('\n').at(-1)}` : ''
    console.error(`gatehouse: ${err instanceof Error ? err.message : String(err)}${reason}`)
    process.exit(1)
  },
)
