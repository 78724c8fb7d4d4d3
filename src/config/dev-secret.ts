import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'

/**
 * Outside production a missing JWT_SECRET is generated once and kept in a git-ignored file,
 * so restarting the service on a laptop does not log everyone out.
 */
export function resolveDevSecret (file: string): { secret: string; created: boolean; file: string } {
  const path = resolve(file)
  try {
    const secret = readFileSync(path, 'utf8').trim()
    if (secret) return { secret, created: false, file: path }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const secret = randomBytes(48).toString('base64url')
  // 'wx' fails if another process created it meanwhile; then use theirs.
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return resolveDevSecret(file)
    throw err
  }
  return { secret, created: true, file: path }
}
