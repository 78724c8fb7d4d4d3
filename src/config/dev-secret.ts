import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

/**
 * Outside production a missing signing key is generated once and kept in a git-ignored file, so
 * restarting the service on a laptop does not log everyone out: an Ed25519 private key (EdDSA,
 * the default) or an HS256 secret.
 */
export interface DevKey {
  /** The file's content, without a trailing newline. */
  value: string
  created: boolean
  file: string
}

/** The development HS256 secret, if one was generated before (by an older release, or with JWT_ALGORITHM=HS256). */
export function existingDevSecret (file: string): DevKey | null {
  const path = resolve(file)
  try {
    const value = readFileSync(path, 'utf8').trim()
    return value ? { value, created: false, file: path } : null
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

export const resolveDevSecret = (file: string): DevKey => resolveDevKey(file, () => randomBytes(48).toString('base64url'))

export const resolveDevPrivateKey = (file: string): DevKey =>
  resolveDevKey(file, () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString().trim())

function resolveDevKey (file: string, generate: () => string): DevKey {
  const existing = existingDevSecret(file)
  if (existing) return existing
  const path = resolve(file)
  const value = generate()
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  // 'wx' fails if another process created it meanwhile; then use theirs.
  try {
    writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return resolveDevKey(file, generate)
    throw err
  }
  return { value, created: true, file: path }
}
