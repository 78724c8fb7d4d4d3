// npm run build (scripts/build.sh): bundles the ops console (console/src) into console/dist with
// esbuild: one script and one style file, named by a hash of their content so they can be cached
// for good, and the page that names them. Built beside and swapped in, like dist/, with the hash of
// its inputs that build.sh passes (`.inputs`, beside the page: only assets/ is served).
import { build } from 'esbuild'
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'

const out = 'console/dist.next'
rmSync(out, { recursive: true, force: true })
const result = await build({
  entryPoints: ['console/src/main.ts'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  entryNames: '[name]-[hash]',
  outdir: `${out}/assets`,
  metafile: true,
  // uPlot's licence notice stays in the bundle.
  legalComments: 'eof',
  logLevel: 'warning',
})
const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path))
const script = outputs.find((name) => name.endsWith('.js'))
const style = outputs.find((name) => name.endsWith('.css'))
if (!script || !style) throw new Error(`esbuild wrote ${outputs.join(', ')}: expected one .js and one .css`)
mkdirSync(out, { recursive: true })
if (process.argv[2]) writeFileSync(`${out}/.inputs`, `${process.argv[2]}\n`)
writeFileSync(`${out}/index.html`, readFileSync('console/index.html', 'utf8').replace('%SCRIPT%', script).replace('%STYLE%', style))
rmSync('console/dist.old', { recursive: true, force: true })
try { renameSync('console/dist', 'console/dist.old') } catch {}
renameSync(out, 'console/dist')
rmSync('console/dist.old', { recursive: true, force: true })
