import { isUtf8 } from 'node:buffer'
import { MAX_TOKEN_LENGTH } from './credentials.js'

/** Three parts of strict base64url (no padding, no `+` or `/`), tested without splitting the token. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * The header of a compact JWS that is well formed by the contract's rule (three strict base64url
 * parts, header and payload JSON objects in strict UTF-8, no BOM, no `crit`); null otherwise. Not
 * verified: only used to pick the key. fast-jwt alone would take invalid UTF-8 and a `crit` it
 * understands. Its cost is the header's decoding and one look at the payload's bytes: the payload
 * being a JSON object is left to fast-jwt, which parses it anyway and refuses anything else.
 */
export function wellFormedHeader (token: string): Record<string, unknown> | null {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) return null
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  // A length of 1 mod 4 is no whole number of bytes: base64 that some decoders would still take.
  if (first % 4 === 1 || (second - first - 1) % 4 === 1 || (token.length - second - 1) % 4 === 1) return null
  const payload = Buffer.from(token.slice(first + 1, second), 'base64url')
  if (!isUtf8(payload) || hasBom(payload)) return null
  const header = jsonObject(token.slice(0, first))
  if (header === null || 'crit' in header) return null // no extension is understood, so none may be required
  return header
}

const hasBom = (bytes: Buffer) => bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf

function jsonObject (part: string): Record<string, unknown> | null {
  try {
    const text = utf8.decode(Buffer.from(part, 'base64url'))
    if (text.startsWith('\uFEFF')) return null
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null
  } catch {
    return null
  }
}
