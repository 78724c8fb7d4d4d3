#!/usr/bin/env node
// Writes docs/configuration.md and .env.example from the settings table (src/config/settings.ts),
// as built into dist/ (`npm run docs:config` builds first). test/config/settings-docs.test.ts
// fails when the committed files differ from what this writes.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderConfigurationDoc, renderEnvExample } from '../dist/config/settings-docs.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

for (const [file, text] of [['docs/configuration.md', renderConfigurationDoc()], ['.env.example', renderEnvExample()]]) {
  const path = resolve(ROOT, file)
  let before = null
  try {
    before = readFileSync(path, 'utf8')
  } catch (err) {
    if (err.code !== 'ENOENT') throw err
  }
  if (before === text) {
    console.log(`${file}: up to date`)
  } else {
    writeFileSync(path, text)
    console.log(`${file}: written`)
  }
}
