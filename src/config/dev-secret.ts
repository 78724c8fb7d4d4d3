import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ConfigError } from './config-error.js'

/**
 * Outside production a missing signing key is generated once and kept in a git-ignored file, so
 * restarting the service on a laptop does not log everyone out: an Ed25519 private key (EdDSA,
 * the default) or an HS256 secret. Whoever can write that file can sign any session, so it is
 * trusted only as ssh trusts a private key: a regular file, not a link, of this user, and readable
 * by no one else, in a folder of this user.
 */
export interface DevKey {
  /** The file's content, without a trailing newline. */
  value: string
  created: boolean
  file: string
}

/** The development HS256 secret, if one was generated before (by an older release, or with JWT_ALGORITHM=HS256). */
export function existingDevSecret (file: string, variable = 'JWT_SECRET'): DevKey | null {
  const path = resolve(file)
  let fd: number
  try {
    // O_NOFOLLOW: a symbolic link planted in its place is refused, not followed.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return null
    if (code === 'ELOOP') throw new ConfigError(variable, `is not set, and the development key ${path} is a symbolic link: remove it`)
    throw err
  }
  try {
    const stat = fstatSync(fd)
    const uid = process.getuid?.()
    if (!stat.isFile()) throw new ConfigError(variable, `is not set, and the development key ${path} is not a regular file: remove it`)
    if (uid !== undefined && stat.uid !== uid) throw new ConfigError(variable, `is not set, and the development key ${path} belongs to another user (uid ${stat.uid}): remove it`)
    if ((stat.mode & 0o077) !== 0) throw new ConfigError(variable, `is not set, and the development key ${path} is readable or writable by others: chmod 600 it, or remove it`)
    const value = readFileSync(fd, 'utf8').trim()
    if (!value) throw new ConfigError(variable, `is not set, and the development key ${path} is empty: remove it to generate a new one`)
    return { value, created: false, file: path }
  } finally {
    closeSync(fd)
  }
}

export const resolveDevSecret = (file: string): DevKey => resolveDevKey(file, 'JWT_SECRET', () => randomBytes(48).toString('base64url'))

export const resolveDevPrivateKey = (file: string): DevKey =>
  resolveDevKey(file, 'JWT_PRIVATE_KEY', () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString().trim())

function resolveDevKey (file: string, variable: string, generate: () => string): DevKey {
  const path = resolve(file)
  const folder = dirname(path)
  mkdirSync(folder, { recursive: true, mode: 0o700 })
  const dir = lstatSync(folder)
  const uid = process.getuid?.()
  if (uid !== undefined && dir.uid !== uid && folder !== dirname(folder)) {
    throw new ConfigError(variable, `is not set, and the folder of the development key, ${folder}, belongs to another user (uid ${dir.uid})`)
  }
  const existing = existingDevSecret(file, variable)
  if (existing) return existing
  const value = generate()
  // 'wx' (O_EXCL) fails if the file, or a link in its place, appeared meanwhile: then read that one.
  try {
    writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const raced = existingDevSecret(file, variable)
    if (raced) return raced
    throw new ConfigError(variable, `is not set, and the development key ${path} could not be created`)
  }
  return { value, created: true, file: path }
}
