import { readFileSync } from 'node:fs'
import t from 'tap'

// .node-version is the one home of the Node.js line Gatehouse is tested and shipped on (CI installs it
// through scripts/pinned-node.sh); the image and the package's floor must follow it, not drift.
const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')
const pinned = read('.node-version').trim()
const major = (version: string) => Number(/^v?(\d+)\./.exec(version)?.[1])

t.test('the image, the package floor and CI agree with .node-version', async (t) => {
  t.match(pinned, /^\d+\.\d+\.\d+$/, '.node-version is one exact version')
  const from = /^FROM node:(\d+)[-.]/m.exec(read('Dockerfile'))
  t.equal(Number(from?.[1]), major(pinned), `the Dockerfile's FROM is Node.js ${major(pinned)}`)
  const floor = /^>=(\d+)$/.exec(JSON.parse(read('package.json')).engines.node)
  t.ok(floor && Number(floor[1]) <= major(pinned), `engines.node (${floor?.[0]}) admits the pinned ${pinned}`)
  t.match(read('.ci/run'), /scripts\/pinned-node\.sh/, '.ci/run installs the pinned Node.js where the machine is older')
})
