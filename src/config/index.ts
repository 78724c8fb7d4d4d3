import { ConfigError } from './config-error.js'
import { DEV_KEY_FILES, type DevKeyFiles } from './jwt.js'
import { formatHostPorts, type HostPort, type ParseContext } from './parsers.js'
import { type Setting, SETTINGS, type SettingName, type SettingValue } from './settings.js'

export { ConfigError, formatHostPorts, type HostPort }
export type { DatabaseTarget } from './database-target.js'
export type { RedisAuth, RedisTarget } from './redis-target.js'

/** The environment, as process.env holds it (and withDotEnv fills it in). */
export type Env = Record<string, string | undefined>

type Entries = typeof SETTINGS
/** An entry's `config` path; never for an entry that only another entry's parser reads. */
type PathOf<K extends SettingName> = Entries[K] extends { config: infer P extends string } ? P : never
/** The field a path names at `Prefix` ('' for the top level, 'throttle.' in a section); never elsewhere. */
type FieldAt<Path, Prefix extends string> = Path extends `${Prefix}${infer F}` ? (F extends `${string}.${string}` | '*' ? never : F) : never
type FieldsAt<Prefix extends string> = { -readonly [K in SettingName as FieldAt<PathOf<K>, Prefix>]: SettingValue<K> }
type SectionOf<Path> = Path extends `${infer S}.${string}` ? S : never
type Section = { [K in SettingName]: SectionOf<PathOf<K>> }[SettingName]
/** The value whose fields join section S (`config: 'jwt.*'`); never when there is none. */
type Joining<Path, S extends string, K> = Path extends `${S}.*` ? K : never
type JoiningFields<S extends string> = ValueOf<{ [K in SettingName as Joining<PathOf<K>, S, K>]: SettingValue<K> }>
type ValueOf<T> = T[keyof T]
type Simplify<T> = { [K in keyof T]: T[K] } & {}

/**
 * Every setting Gatehouse reads, validated once at start-up: built from settings.ts, one field
 * per entry's `config` path, typed by its parser. What each means, its default and what it accepts
 * are there (and, generated from it, in docs/configuration.md).
 */
export type Config = Simplify<FieldsAt<''> & {
  [S in Section]: Simplify<FieldsAt<`${S}.`> & ([JoiningFields<S>] extends [never] ? unknown : JoiningFields<S>)>
}>

/** Brute-force limits, kept in Redis so every instance shares them. */
export type ThrottleConfig = Config['throttle']
/** The optional cookie transport for web apps on the same site. */
export type CookieConfig = Config['cookies']

/** Each variable's default (settings.ts), as text. */
export const DEFAULTS = Object.fromEntries(
  Object.entries(SETTINGS).map(([name, setting]) => [name, setting.default])
) as Record<SettingName, string>

export interface LoadedConfig {
  config: Config
  /** Things worth telling the operator at start-up (e.g. a generated development secret). */
  warnings: string[]
}

export interface LoadConfigOptions {
  /** Where development signing keys are kept between restarts (default DEV_KEY_FILES). */
  devKeyFiles?: Partial<DevKeyFiles>
}

/** Reads and validates the configuration; throws ConfigError naming the first bad variable. */
export function loadConfig (env: Env, options: LoadConfigOptions = {}): LoadedConfig {
  const warnings: string[] = []
  const parsed = new Map<SettingName, { value: unknown } | 'parsing'>()
  // Each entry is parsed once, when first asked for: by the sweep below, or by a parser that reads it.
  const value = <K extends SettingName>(name: K): SettingValue<K> => {
    const done = parsed.get(name)
    if (done === 'parsing') throw new Error(`settings.ts: parsing ${name} needs ${name} itself`)
    if (done) return done.value as SettingValue<K>
    parsed.set(name, 'parsing')
    const result = SETTINGS[name].values.parse(name, env[name] || DEFAULTS[name], context) as SettingValue<K>
    parsed.set(name, { value: result })
    return result
  }
  const context: ParseContext = {
    value,
    isSet: (name) => Boolean(env[name]),
    warn: (line) => warnings.push(line),
    devKeyFiles: { ...DEV_KEY_FILES, ...options.devKeyFiles },
  }

  // The order decides which error a configuration with several bad values gets: the signing keys
  // first (a production start lacking both a key and DATABASE_URL hears of the key), then every
  // entry in the table's order.
  value('JWT_PRIVATE_KEY')
  const config: Record<string, unknown> = {}
  for (const [name, setting] of Object.entries(SETTINGS) as Array<[SettingName, Setting<unknown>]>) {
    const result = value(name)
    if (setting.config === undefined) continue
    const [section, field] = setting.config.split('.') as [string, string?]
    if (field === undefined) {
      config[section] = result
      continue
    }
    const fields = (config[section] ??= {}) as Record<string, unknown>
    if (field === '*') Object.assign(fields, result)
    else fields[field] = result
  }
  return { config: config as Config, warnings }
}
