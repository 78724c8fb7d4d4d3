import { readFileSync } from 'node:fs'

/**
 * Where a --cpu-prof profile's time went: self time by package (or by file of this project) and
 * by function, as shares of the busy (non-idle) time. Usage:
 *   node dist-bench/bench/profile-summary.js bench/profiles/<file>.cpuprofile [top=25] [skip=0]
 * skip: seconds at the start to leave out (start-up: module loading, compiling).
 */
interface Node {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: Node[]
  samples: number[]
  timeDeltas: number[]
}

const [file, topArg, skipArg] = process.argv.slice(2)
if (!file) {
  console.error('usage: profile-summary <file.cpuprofile> [top]')
  process.exit(2)
}
const top = Number(topArg ?? 25)
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const skipMicros = Number(skipArg ?? 0) * 1e6
const self = new Map<number, number>()
let elapsed = 0
profile.samples.forEach((id, i) => {
  elapsed += profile.timeDeltas[i] ?? 0
  if (elapsed >= skipMicros) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
})

/** node_modules/<package> (with its scope), node:internal, (program)/(gc), or this project's file. */
function area ({ url, functionName }: Node['callFrame']): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)'
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (modules) return modules[1]!
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/')
  return url.replace(/^file:\/\/.*?\/(dist|src)\//, '$1/')
}

const idle = [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((sum, [, t]) => sum + t, 0)
const total = [...self.values()].reduce((a, b) => a + b, 0)
const busy = total - idle
const tally = (key: (node: Node) => string) => {
  const sums = new Map<string, number>()
  for (const [id, time] of self) {
    const node = byId.get(id)!
    if (node.callFrame.functionName === '(idle)') continue
    sums.set(key(node), (sums.get(key(node)) ?? 0) + time)
  }
  return [...sums].sort((a, b) => b[1] - a[1]).slice(0, top)
}
const pct = (t: number) => `${((t / busy) * 100).toFixed(1).padStart(5)}%`

console.log(`busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s sampled (${((busy / total) * 100).toFixed(0)}%)\n`)
console.log('self time by area')
for (const [name, time] of tally((node) => area(node.callFrame))) console.log(`${pct(time)}  ${name}`)
console.log('\nself time by function')
for (const [name, time] of tally((node) => `${node.callFrame.functionName || '(anonymous)'}  ${area(node.callFrame)}:${node.callFrame.lineNumber + 1}`)) console.log(`${pct(time)}  ${name}`)
