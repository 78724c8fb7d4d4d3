import { readFileSync } from 'node:fs'
import { parseEnv } from 'node:util'
import type { Env } from './index.js'

/** The environment with `.env` values filled in underneath: a variable already set always wins. */
export function withDotEnv (env: Env, file = '.env'): Env {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return env
    throw err
  }
  return { ...parseEnv(text), ...definedOnly(env) }
}

function definedOnly (env: Env): Env {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined))
}
