import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { MIN_RSA_BITS, publicKeyAlgorithm } from '@gatehouse/session-reader/local-keys'
import { readFileSync } from 'node:fs'
import { ConfigError } from './config-error.js'
import { existingDevSecret, resolveDevPrivateKey, resolveDevSecret } from './dev-secret.js'
import type { Config } from './index.js'
import { list, type ParseContext, type Parser } from './parsers.js'
import type { SettingName } from './settings.js'

export const JWT_ALGORITHMS = ['HS256', 'EdDSA', 'RS256'] as const
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number]

/** Every key Gatehouse signs or verifies tokens with (docs/ops.md, "Rotating signing keys"), and what a token must say. */
export type JwtConfig = Config['jwt']

/** JWT_PRIVATE_KEY's value: what signs, and the secrets that only verify. */
export interface SigningKeys {
  /** HS256: JWT_SECRET. EdDSA / RS256: the private key, PEM (PKCS#8). */
  signingKey: string
  /** Old HS256 secrets: tokens they signed still verify. */
  previousSecrets: string[]
}

const MIN_SECRET_BYTES = 32

/** Where development keys are kept between restarts (git-ignored). */
export interface DevKeyFiles {
  /** The Ed25519 private key generated when EdDSA (the default) has no JWT_PRIVATE_KEY. */
  privateKey: string
  /** The HS256 secret generated when JWT_ALGORITHM=HS256 has no JWT_SECRET (and by releases before EdDSA was the default). */
  secret: string
}

export const DEV_KEY_FILES: DevKeyFiles = { privateKey: '.gatehouse/jwt-ed25519.pem', secret: '.gatehouse-dev-secret' }

const UPGRADE_STEPS = 'docs/ops.md, "Moving from HS256 to EdDSA"'

/** JWT_SECRET, or the contents of the file JWT_SECRET_FILE without a trailing newline: checked when set, null when not. */
export const jwtSecret: Parser<string | null> = {
  accepts: 'at least 32 bytes',
  parse: (name, raw, context) => {
    const { text, from } = valueOrFile(name, raw, context)
    const secret = from === name ? text : text.replace(/\r?\n$/, '')
    if (!secret) return null
    checkSecret(name, secret)
    return secret
  },
}

const secretList = list('comma-separated, each at least 32 bytes', (name, secret) => {
  checkSecret(name, secret)
  return secret
}, /[,\r\n]/)

/** JWT_PREVIOUS_SECRETS as a comma-separated list, or the lines of the file JWT_PREVIOUS_SECRETS_FILE. */
export const previousSecrets: Parser<string[]> = {
  accepts: secretList.accepts,
  parse: (name, raw, context) => secretList.parse(name, valueOrFile(name, raw, context).text, context),
}

/** JWT_PREVIOUS_PUBLIC_KEYS (or its file): old public keys, PEM (SPKI); a private key is reduced to its public half. */
export const previousPublicKeys: Parser<string[]> = {
  accepts: 'PEM blocks, one after another',
  parse: (name, raw, context) => pemBlocks(name, raw, context).map((pem) => publicKeyPem(name, pem)),
}

/**
 * JWT_PRIVATE_KEY's entry: the key JWT_ALGORITHM signs with (with HS256, JWT_SECRET; then
 * JWT_PRIVATE_KEY is not read), and the old secrets that still verify. Outside production a
 * missing key is generated once and kept (dev-secret.ts).
 */
export const signingKeys: Parser<SigningKeys> = {
  accepts: 'one PEM private key (PKCS#8)',
  parse: (name, raw, context) => {
    const { value, warn, devKeyFiles } = context
    const algorithm = value('JWT_ALGORITHM')
    const production = value('NODE_ENV')
    const previousSecrets = [...value('JWT_PREVIOUS_SECRETS')]

    if (algorithm === 'HS256') {
      let secret = value('JWT_SECRET')
      if (!secret) {
        if (production) throw new ConfigError('JWT_SECRET', 'is required with JWT_ALGORITHM=HS256 and NODE_ENV=production (or set JWT_SECRET_FILE)')
        const dev = resolveDevSecret(devKeyFiles.secret)
        secret = dev.value
        warn(`JWT_SECRET is not set: ${dev.created ? 'generated a development secret and saved it' : 'using the development secret saved'} in ${dev.file} (never use this in production)`)
        checkSecret('JWT_SECRET', secret)
      }
      return { signingKey: secret, previousSecrets }
    }

    // A deployment moving from HS256 keeps its secret as a key that only verifies: the tokens it
    // signed stay valid until their exp, and nothing new is signed with it.
    const formerSecret = value('JWT_SECRET')
    if (formerSecret) {
      previousSecrets.unshift(formerSecret)
      warn(`JWT_SECRET only verifies the HS256 tokens it signed now that JWT_ALGORITHM=${algorithm} signs: move it to JWT_PREVIOUS_SECRETS, and remove it once SESSION_MAX_AGE_SECONDS has passed (until then whoever holds it can still sign tokens; ${UPGRADE_STEPS})`)
    }

    const [pem, ...extra] = pemBlocks(name, raw, context)
    if (extra.length > 0) throw new ConfigError('JWT_PRIVATE_KEY', 'must hold exactly one key')
    let privatePem = pem
    if (!privatePem) {
      if (production || algorithm !== 'EdDSA') {
        const generate = algorithm === 'EdDSA' ? 'an Ed25519 key: openssl genpkey -algorithm ed25519' : 'an RSA key of at least 2048 bits: openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:3072'
        const why = algorithm === 'EdDSA' && production ? 'is required when NODE_ENV=production' : `is required when JWT_ALGORITHM=${algorithm}`
        const upgrade = formerSecret ? ` (JWT_SECRET then keeps verifying the tokens it signed; or set JWT_ALGORITHM=HS256 to keep signing with it; ${UPGRADE_STEPS})` : ''
        throw new ConfigError('JWT_PRIVATE_KEY', `${why}: set it, or JWT_PRIVATE_KEY_FILE, to ${generate}${upgrade}`)
      }
      const dev = resolveDevPrivateKey(devKeyFiles.privateKey)
      privatePem = dev.value
      warn(`JWT_PRIVATE_KEY is not set: ${dev.created ? 'generated a development Ed25519 key and saved it' : 'using the development Ed25519 key saved'} in ${dev.file} (never use this in production)`)
      // A laptop upgraded from the HS256 default keeps its sessions: the old development secret verifies
      // (within the reach every former secret has: sessions/token-windows.ts).
      const oldDevSecret = formerSecret ? null : existingDevSecret(devKeyFiles.secret)
      if (oldDevSecret && !previousSecrets.includes(oldDevSecret.value)) {
        checkSecret('JWT_SECRET', oldDevSecret.value)
        previousSecrets.push(oldDevSecret.value)
        warn(`the development secret in ${oldDevSecret.file} (from when HS256 was the default) still verifies the tokens it signed; delete the file once they no longer matter`)
      }
    }
    let key: KeyObject
    try {
      key = createPrivateKey(privatePem)
    } catch {
      throw new ConfigError('JWT_PRIVATE_KEY', 'is not a PEM private key')
    }
    if (publicKeyAlgorithm(key) !== algorithm) {
      throw new ConfigError('JWT_PRIVATE_KEY', `must be ${algorithm === 'EdDSA' ? 'an Ed25519' : `an RSA (at least ${MIN_RSA_BITS}-bit)`} key for JWT_ALGORITHM=${algorithm}`)
    }
    return { signingKey: key.export({ format: 'pem', type: 'pkcs8' }).toString(), previousSecrets }
  },
}

/**
 * NAME's text, or the contents of the file NAME_FILE (one or the other; a Docker or Kubernetes
 * secret, say), and which of the two it came from, for errors to name.
 */
function valueOrFile (name: string, raw: string, { value }: ParseContext): { text: string, from: string } {
  const file = value(`${name}_FILE` as Extract<SettingName, `${string}_FILE`>)
  if (!file) return { text: raw, from: name }
  if (raw) throw new ConfigError(name, `and ${name}_FILE are both set; use one`)
  try {
    return { text: readFileSync(file, 'utf8'), from: `${name}_FILE` }
  } catch (err) {
    throw new ConfigError(`${name}_FILE`, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
}

function checkSecret (variable: string, secret: string): void {
  const bytes = Buffer.byteLength(secret, 'utf8')
  if (bytes < MIN_SECRET_BYTES) {
    throw new ConfigError(variable, `must be at least ${MIN_SECRET_BYTES} bytes (got ${bytes}); generate one with: openssl rand -base64 48`)
  }
}

function publicKeyPem (variable: string, pem: string): string {
  let key: KeyObject
  try {
    // A private key is accepted too: its public half is what is kept.
    key = createPublicKey(pem)
  } catch {
    throw new ConfigError(variable, 'has an entry that is not a PEM key')
  }
  if (!publicKeyAlgorithm(key)) throw new ConfigError(variable, `keys must be Ed25519 or RSA of at least ${MIN_RSA_BITS} bits`)
  return key.export({ format: 'pem', type: 'spki' }).toString()
}

/**
 * The PEM blocks of NAME, or of the file NAME_FILE (one or the other). A literal "\n" is read as
 * a newline, since many secret stores keep a PEM on one line.
 */
function pemBlocks (name: string, raw: string, context: ParseContext): string[] {
  const { text: read, from } = valueOrFile(name, raw, context)
  const text = read.replaceAll('\\n', '\n')
  const blocks = text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? []
  if (text.trim() !== '' && blocks.length === 0) throw new ConfigError(from, 'holds no PEM block (-----BEGIN ...-----)')
  return blocks
}
