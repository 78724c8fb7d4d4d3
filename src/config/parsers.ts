import { isIP } from 'node:net'
import { ConfigError } from './config-error.js'
import type { DevKeyFiles } from './jwt.js'
import type { SettingName, SettingValue } from './settings.js'

/** How one variable's text becomes a value: the check start-up runs, and what the docs say it takes. */
export interface Parser<T> {
  /** The value of `raw` (the variable, or its default), or a ConfigError naming `name`. */
  parse: (name: string, raw: string, context: ParseContext) => T
  /** What the variable takes, in Markdown (docs/configuration.md). */
  accepts: string
}

/** What a parser may consult besides its own variable's text (loadConfig provides it). */
export interface ParseContext {
  /**
   * Another variable's value, as its own entry parses it (each entry is parsed once). In
   * settings.ts a function that returns what it works out from it declares its return type
   * (`({ value }): string => ...`): the table's type cannot be inferred from itself.
   */
  value: <K extends SettingName>(name: K) => SettingValue<K>
  /** Whether the variable is set, not left to its default (an empty one counts as unset). */
  isSet: (name: SettingName) => boolean
  /** A line worth telling the operator at start-up. */
  warn: (line: string) => void
  /** Where development signing keys are kept between restarts. */
  devKeyFiles: DevKeyFiles
}

/**
 * `parser`, then `check` on its value, with the other settings at hand: a rule that spans
 * variables lives in the entry of the variable its error names.
 */
export const checked = <T>(parser: Parser<T>, check: (value: T, context: ParseContext, name: string, raw: string) => void): Parser<T> => ({
  accepts: parser.accepts,
  parse: (name, raw, context) => {
    const value = parser.parse(name, raw, context)
    check(value, context, name, raw)
    return value
  },
})

/** `parser`, with an unset (or empty) variable worked out from other settings by `fallback`. */
export const defaultFrom = <T>(parser: Parser<T>, fallback: (context: ParseContext) => string): Parser<T> => ({
  accepts: parser.accepts,
  parse: (name, raw, context) => parser.parse(name, raw || fallback(context), context),
})

/**
 * The one way a list is read: items split at commas (or at `separator`), trimmed, empty ones
 * dropped (" a, b," is two items); `item` checks each, and may convert it.
 */
export const list = <T>(accepts: string, item: (name: string, text: string) => T, separator: RegExp = /,/): Parser<T[]> => ({
  accepts,
  parse: (name, raw) => raw.split(separator).map((s) => s.trim()).filter(Boolean).map((text) => item(name, text)),
})

export interface HostPort {
  host: string
  port: number
}

/** Taken as it is; `accepts` says what it should hold (checked elsewhere, if at all). */
export const text = (accepts: string): Parser<string> => ({ accepts, parse: (_name, raw) => raw })

export const wholeNumber = (min: number, max: number): Parser<number> => ({
  accepts: `${min}–${max}`,
  parse: (name, raw) => integer(name, raw, min, max),
})

export const oneOf = <T extends string>(values: readonly T[]): Parser<T> => ({
  accepts: values.map((v) => `\`${v}\``).join(', '),
  parse: (name, raw) => {
    if (!values.includes(raw as T)) throw new ConfigError(name, `must be one of ${values.join(', ')} (got "${raw}")`)
    return raw as T
  },
})

export const flag: Parser<boolean> = {
  accepts: '`true`, `false`',
  parse: (name, raw, context) => oneOf(['true', 'false'] as const).parse(name, raw, context) === 'true',
}

export const url = (protocols: string[]): Parser<string> => ({
  accepts: `a ${protocols.map((p) => `\`${p}//\``).join(' or ')} URL`,
  parse: (name, raw) => {
    let parsed: URL
    try {
      parsed = new URL(raw)
    } catch {
      throw new ConfigError(name, 'must be a URL')
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`)
    }
    return raw
  },
})

/**
 * A link template for mailed tokens, e.g. `https://app.example.com/reset?token={token}` (a
 * universal link): https, with `{token}` where the token goes. Plain http only for a loopback host,
 * which the config refuses in production.
 */
export const tokenLinkTemplate: Parser<string> = {
  accepts: 'an `https://` URL with `{token}` in it',
  parse: (name, raw) => {
    if (!raw.includes('{token}')) throw new ConfigError(name, 'must contain {token}, where the mailed token goes')
    let parsed: URL
    try {
      parsed = new URL(raw.replaceAll('{token}', 'x'))
    } catch {
      throw new ConfigError(name, 'must be a URL')
    }
    const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname)
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
      throw new ConfigError(name, 'must start with https:// (http:// only for localhost)')
    }
    return raw
  },
}

/** Empty (the default) is null: the setting is off. */
export const optional = <T>(inner: Parser<T>): Parser<T | null> => ({
  accepts: `${inner.accepts}, or empty`,
  parse: (name, raw, context) => (raw === '' ? null : inner.parse(name, raw, context)),
})

export const matching = (pattern: RegExp, problem: string, accepts: string): Parser<string> => ({
  accepts,
  parse: (name, raw) => {
    if (!pattern.test(raw)) throw new ConfigError(name, problem)
    return raw
  },
})

/** An HTTP header name, lower-cased as Node gives header names. */
export const headerName: Parser<string> = {
  accepts: 'a header name',
  parse: (name, raw) => {
    if (!/^[A-Za-z][A-Za-z0-9-]{0,63}$/.test(raw)) throw new ConfigError(name, 'must be a header name: letters, digits and -, at most 64')
    return raw.toLowerCase()
  },
}

/**
 * A registrable domain for cookies, lower-cased and without the leading dot browsers ignore:
 * `example.com`, `.Example.com` → `example.com`. A single label (`com`, `localhost`) or an IP
 * address is refused: a browser would not scope a cookie to it, or would scope it too widely.
 */
export const cookieDomain: Parser<string> = {
  accepts: 'a domain name such as `example.com`',
  parse: (name, raw) => {
    const domain = raw.trim().toLowerCase().replace(/^\./, '')
    if (!/^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/.test(domain) || domain.length > 253) {
      throw new ConfigError(name, `must be a domain name with at least two labels, such as example.com (got "${raw}")`)
    }
    return domain
  },
}

/** "10.0.0.1:7000,redis-b:7000" → [{host, port}...]. */
export const hostPorts: Parser<HostPort[]> = list('comma-separated `host:port`', (name, item) => {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item)
  const port = Number(match?.[2])
  if (!match || port < 1 || port > 65535) throw new ConfigError(name, `must be a comma-separated list of host:port (got "${item}")`)
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
})

/** [{host, port}...] → "10.0.0.1:7000,redis-b:7000", as REDIS_CLUSTER_NODES and REDIS_SENTINELS take them. */
export const formatHostPorts = (nodes: HostPort[]) => nodes.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)).join(',')

/** Comma-separated service credentials: long random strings, like the JWT secret. */
export const credentials: Parser<string[]> = list('comma-separated, each at least 32 characters', (name, token) => {
  if (token.length < 32) throw new ConfigError(name, 'each token must be at least 32 characters (e.g. openssl rand -base64 32)')
  return token
})

export const origins: Parser<string[]> = list('comma-separated origins (`*` is refused)', (name, origin) => {
  if (origin === '*') throw new ConfigError(name, 'must list origins explicitly ("*" is not allowed)')
  let parsed: URL
  try {
    parsed = new URL(origin)
  } catch {
    throw new ConfigError(name, `has an entry that is not an origin: "${origin}"`)
  }
  if (parsed.origin !== origin) throw new ConfigError(name, `entries must be bare origins like https://app.example.com (got "${origin}")`)
  return origin
})

/**
 * Host names a browser may reach Gatehouse by, each with an optional port, as a Host header carries
 * them: " Ops.example.com, localhost:3000" → ["ops.example.com", "localhost:3000"]. Lower-cased
 * (host names know no case) and spelled as a URL spells them (`127.1` is `127.0.0.1`, IPv6 in
 * brackets with its zeros compressed), so a request's host is looked up as it is. Exact names only:
 * no wildcard, scheme or path, since each is a host whose pages are trusted with the admin cookie.
 */
export const hostNames: Parser<string[]> = list('comma-separated host names, each optionally with `:port`', (name, entry) => {
  const bad = () => new ConfigError(name, `has an entry that is not a host name with an optional port, such as ops.example.com or localhost:3000 (got "${entry}")`)
  const match = HOST_AND_PORT.exec(entry.toLowerCase())
  const port = match?.[2] === undefined ? null : Number(match[2])
  if (!match || match[1]!.length > 253 || (port !== null && (port < 1 || port > 65535))) throw bad()
  let host: string
  try {
    host = new URL(`http://${match[1]}`).hostname
  } catch {
    // Digits and dots only, but no IPv4 address (`1.2.3.999`), or brackets around no IPv6 address.
    throw bad()
  }
  return port === null ? host : `${host}:${port}`
})

/**
 * A name of letters, digits, hyphens and underscores (browsers and container networks allow them),
 * without a trailing dot (a browser keeps it: another host), or an [IPv6] address; then :port.
 */
const HOST_AND_PORT = /^([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/

/** "false", "true", a number of proxy hops, or a comma-separated list of proxy addresses / CIDRs. */
export const trustProxy: Parser<boolean | number | string[]> = {
  accepts: '`false`, `true`, a hop count (1–100), or comma-separated addresses/CIDRs',
  parse: (name, raw, context) => {
    const value = raw.trim()
    if (value === 'false') return false
    if (value === 'true') return true
    if (/^\d+$/.test(value)) return integer(name, value, 1, 100)
    const proxies = proxyAddresses.parse(name, value, context)
    if (proxies.length === 0) throw new ConfigError(name, `must be true, false, a number of hops, or proxy addresses/CIDRs (got "${raw}")`)
    return proxies
  },
}

const proxyAddresses = list('comma-separated addresses/CIDRs', (name, entry) => {
  const [address = '', bits, ...rest] = entry.split('/')
  const version = isIP(address)
  const maxBits = version === 6 ? 128 : 32
  const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits)
  if (version === 0 || !bitsOk || rest.length > 0) {
    throw new ConfigError(name, `must be true, false, a number of hops, or proxy addresses/CIDRs (got "${entry}")`)
  }
  return entry
})

function integer (name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number (got "${raw}")`)
  const value = Number(raw.trim())
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max} (got ${value})`)
  return value
}
