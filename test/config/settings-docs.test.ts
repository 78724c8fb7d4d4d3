import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { renderConfigurationDoc, renderEnvExample } from '../../src/config/settings-docs.js'
import { DEFAULTS, loadConfig } from '../../src/config/index.js'
import { SETTINGS } from '../../src/config/settings.js'

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')

t.test('docs/configuration.md and .env.example are what src/config/settings.ts generates', async (t) => {
  t.equal(read('docs/configuration.md'), renderConfigurationDoc(), 'docs/configuration.md matches src/config/settings.ts (if not, run: npm run docs:config)')
  t.equal(read('.env.example'), renderEnvExample(), '.env.example matches src/config/settings.ts (if not, run: npm run docs:config)')
})

t.test('.env.example, copied as it is, loads as the defaults do', async (t) => {
  const fromExample = Object.fromEntries(read('.env.example').split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]))
  const secret = { JWT_SECRET: 'x'.repeat(32) }
  t.ok(Object.keys(fromExample).every((name) => name in DEFAULTS), 'it names only settings Gatehouse reads')
  t.same(loadConfig({ ...fromExample, ...secret }).config, loadConfig(secret).config)
})

t.test('defaults the prose of README and docs/ names agree with the table', async (t) => {
  const files = ['README.md', ...readdirSync(new URL('../../docs', import.meta.url)).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]
  // "`SESSION_MAX_PER_USER` (default 100", "`REDIS_COMMAND_TIMEOUT_MS` (default 1 s", "(10 to 15, default 12"
  const mention = /`([A-Z][A-Z0-9_]+)`[^`.;]{0,30}default ([0-9][0-9 ]*[0-9]|[0-9])( s\b| ms\b| per thread\b)?/g
  let checked = 0
  for (const file of files) {
    for (const [, name, number, unit] of read(file).matchAll(mention)) {
      const setting = (SETTINGS as Record<string, { default: string, shownDefault?: string }>)[name!]
      if (!setting) continue
      const said = Number(number!.replaceAll(' ', ''))
      checked++
      if (setting.shownDefault !== undefined) {
        // Worked out at start-up ("16 × BCRYPT_THREADS"): the prose must quote the same figure.
        t.ok(setting.shownDefault.includes(String(said)), `${file}: ${name} default ${said}${unit ?? ''} is what settings.ts shows (${setting.shownDefault})`)
        continue
      }
      const inTable = Number(setting.default) / (unit === ' s' && name!.endsWith('_MS') ? 1000 : 1)
      t.equal(said, inTable, `${file}: ${name} default ${said}${unit ?? ''} is settings.ts' ${setting.default}`)
    }
  }
  t.ok(checked >= 8, `the prose names defaults (${checked} checked)`)
})
