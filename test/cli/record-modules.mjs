// Preloaded (--import) into a `gatehouse` command by what-commands-load.test.ts: writes every
// module the command resolved, one URL a line, to GATEHOUSE_TEST_MODULES when it exits.
import { writeFileSync } from 'node:fs'
import { registerHooks } from 'node:module'

const resolved = new Set()
registerHooks({
  resolve (specifier, context, nextResolve) {
    const result = nextResolve(specifier, context)
    resolved.add(result.url)
    return result
  },
})
process.on('exit', () => writeFileSync(process.env.GATEHOUSE_TEST_MODULES, [...resolved].join('\n')))
