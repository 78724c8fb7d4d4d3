import { type Setting, SETTINGS } from './settings.js'

// docs/configuration.md and .env.example, rendered from settings.ts so that neither can drift from
// what loadConfig does. `npm run docs:config` writes them; test/config/settings-docs.test.ts fails
// when the committed files differ.

const GENERATED = 'Generated from src/config/settings.ts by `npm run docs:config`: edit that file, not this one.'

const entries = Object.entries(SETTINGS) as Array<[string, Setting<unknown>]>

function groups (): Array<[string, Array<[string, Setting<unknown>]>]> {
  const byGroup = new Map<string, Array<[string, Setting<unknown>]>>()
  for (const entry of entries) {
    const list = byGroup.get(entry[1].group) ?? []
    list.push(entry)
    byGroup.set(entry[1].group, list)
  }
  return [...byGroup]
}

/** 1200 → "20 min", 2592000 → "30 days": the unit a reader thinks in, for a default in seconds. */
function duration (seconds: number): string | undefined {
  const units: Array<[number, string, string]> = [[86_400, 'day', 'days'], [3600, 'hour', 'hours'], [60, 'min', 'min']]
  for (const [size, one, many] of units) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size} ${seconds === size ? one : many}`
  }
  return undefined
}

function shownDefault (name: string, setting: Setting<unknown>): string {
  if (setting.shownDefault !== undefined) return setting.shownDefault
  if (setting.default === '') return 'empty'
  const inUnits = name.endsWith('_SECONDS') ? duration(Number(setting.default)) : undefined
  return `\`${setting.default}\`${inUnits ? ` (${inUnits})` : ''}`
}

const cell = (markdown: string) => markdown.replaceAll('|', '\\|')

export function renderConfigurationDoc (): string {
  const lines = [
    '# Configuration',
    '',
    `<!-- ${GENERATED} -->`,
    '',
    'Gatehouse reads these variables from the environment once, at start-up. `npm start` and the',
    '`gatehouse` command also read a `.env` file in the working directory ([.env.example](../.env.example)',
    'is one to copy), and a variable set in the environment always wins over `.env`. An empty variable',
    'counts as unset. A malformed value, or a combination that cannot work, stops the service with one',
    'line naming the variable.',
  ]
  for (const [group, settings] of groups()) {
    lines.push('', `## ${group}`, '', '| Variable | Default | Accepts | Meaning |', '|---|---|---|---|')
    for (const [name, setting] of settings) {
      lines.push(`| \`${name}\` | ${cell(shownDefault(name, setting))} | ${cell(setting.values.accepts)} | ${cell(setting.meaning)} |`)
    }
  }
  return `${lines.join('\n')}\n`
}

export function renderEnvExample (): string {
  const lines = [
    '# Copy to .env and adjust. Variables set in the environment always win over this file.',
    '# Every value below is the default; empty ones are worked out at start-up or not set.',
    '# What each variable means and takes: docs/configuration.md.',
    `# ${GENERATED.replaceAll('`', '')}`,
  ]
  for (const [group, settings] of groups()) {
    const written = settings.filter(([, setting]) => !setting.omitFromEnvExample)
    if (written.length === 0) continue
    lines.push('', `# --- ${group} ---`)
    for (const [name, setting] of written) {
      if (setting.envComment) lines.push(...setting.envComment.split('\n').map((line) => `# ${line}`))
      lines.push(`${name}=${setting.shownDefault === undefined ? setting.default : ''}`)
    }
  }
  return `${lines.join('\n')}\n`
}
