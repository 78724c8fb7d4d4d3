import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// docs/architecture.md's table of plugins is what src/plugins/ holds: each file, what it decorates
// the app (or the request) with, and the plugins it names as dependencies. A plugin added, renamed
// or given another dependency without the table following fails here, as settings-docs.test.ts
// does for settings.
const ROOT = fileURLToPath(new URL('../', import.meta.url))
const doc = readFileSync(`${ROOT}docs/architecture.md`, 'utf8')

interface Plugin { decorates: string[], needs: string[] }

/** `a`, `b`: the code spans of a table cell, sorted ('—' is none). */
const spans = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!).sort()

function documented (): Map<string, Plugin> {
  const section = /^ *\| Plugin \| Decorates \| Needs \|\n *\|[-|]+\|\n((?: *\|.*\|\n)+)/m.exec(doc)
  if (!section) throw new Error('docs/architecture.md has no "| Plugin | Decorates | Needs |" table')
  return new Map(section[1]!.trimEnd().split('\n').map((row) => row.trim()).map((row) => {
    const [file = '', decorates = '', needs = ''] = row.split('|').slice(1, -1).map((cell) => cell.trim())
    return [spans(file)[0] ?? file, { decorates: spans(decorates), needs: spans(needs) }]
  }))
}

function inSource (): Map<string, Plugin> {
  const dir = `${ROOT}src/plugins/`
  return new Map(readdirSync(dir).filter((file) => file.endsWith('.ts')).sort().map((file) => {
    const source = readFileSync(dir + file, 'utf8')
    const decorates = new Set<string>()
    for (const [, request, name] of source.matchAll(/\.decorate(Request)?(?:<[^>]*>)?\('(\w+)'/g)) decorates.add(request ? `request.${name}` : name!)
    const needs = /dependencies: \[([^\]]*)\]/.exec(source)?.[1] ?? ''
    return [`plugins/${file}`, { decorates: [...decorates].sort(), needs: [...needs.matchAll(/'([\w-]+)'/g)].map((match) => match[1]!).sort() }]
  }))
}

t.test('the table of plugins in docs/architecture.md is src/plugins/', async (t) => {
  const docs = documented()
  const source = inSource()
  t.same([...docs.keys()].sort(), [...source.keys()].sort(), 'the same plugin files')
  for (const [file, plugin] of source) {
    t.same(docs.get(file)?.decorates, plugin.decorates, `${file}: what it decorates`)
    t.same(docs.get(file)?.needs, plugin.needs, `${file}: its dependencies`)
  }
})
