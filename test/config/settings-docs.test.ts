import { readFileSync } from 'node:fs'
import t from 'tap'
import { renderConfigurationDoc, renderEnvExample } from '../../src/config/settings-docs.js'
import { DEFAULTS, loadConfig } from '../../src/config/index.js'

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
