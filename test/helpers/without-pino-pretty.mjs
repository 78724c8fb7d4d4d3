// `node --import` this to run the server as an install without development dependencies does (an
// image): pino-pretty, a development dependency, cannot be found. Nothing else changes.
import { registerHooks } from 'node:module'

registerHooks({
  resolve (specifier, context, nextResolve) {
    if (specifier === 'pino-pretty' || specifier.startsWith('pino-pretty/')) {
      throw Object.assign(new Error(`Cannot find package '${specifier}' (hidden by test/helpers/without-pino-pretty.mjs)`), { code: 'ERR_MODULE_NOT_FOUND' })
    }
    return nextResolve(specifier, context)
  },
})
