// Loaded into every test process (.taprc node-arg). tap runs the tests on Node's own type stripping
// (.taprc type-strip-only), which is about half the CPU per test process of its default, ts-node,
// but does not map an import of './x.js' to ./x.ts as TypeScript's NodeNext resolution does (the
// sources import the .js names their build emits). This hook does that mapping, for our own files
// only, and only when no such .js exists: a built file always wins, as it does for tsc.
import { existsSync } from 'node:fs'
import { registerHooks } from 'node:module'
import { fileURLToPath } from 'node:url'

registerHooks({
  resolve (specifier, context, nextResolve) {
    const parent = context.parentURL
    if (specifier.endsWith('.js') && /^\.{1,2}\//.test(specifier) && parent?.startsWith('file:') && !parent.includes('/node_modules/')) {
      const url = new URL(specifier, parent)
      if (!existsSync(fileURLToPath(url))) {
        const ts = new URL(`${url.href.slice(0, -'.js'.length)}.ts`)
        if (existsSync(fileURLToPath(ts))) return nextResolve(ts.href, context)
      }
    }
    return nextResolve(specifier, context)
  },
})
