import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { CSRF_COOKIE, CSRF_COOKIE_NAMES, CSRF_HEADER, SESSION_COOKIE, USER_ID_PATTERN } from '@gatehouse/session-reader/constants'
import { cookieNames, CSRF_HEADER as CREDENTIALS_CSRF_HEADER } from '@gatehouse/session-reader/credentials'
import { USER_ID_PATTERN as TOKEN_USER_ID_PATTERN } from '@gatehouse/session-reader/token'
import { USER_ID_PATTERN as SERVER_USER_ID_PATTERN } from '../../src/shared/user-id.js'
import { CONSOLE_DIST } from '../../src/routes/console.js'

// The ops console is a browser bundle, so it cannot import the library's modules that need
// node:crypto; it imports the cookie names and the user-id pattern from the one module of the library
// that imports nothing (@gatehouse/session-reader/constants), instead of keeping copies that could
// drift from what Gatehouse sets and accepts.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CONSOLE_SRC = join(ROOT, 'console/src')

/** console/src's TypeScript, by file name (one folder: the console has no subfolders; a new one fails here, to be added). */
function consoleSources (): Map<string, string> {
  const entries = readdirSync(CONSOLE_SRC, { withFileTypes: true })
  const folders = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name)
  if (folders.length > 0) throw new Error(`console/src has folders (${folders.join(', ')}): read them here too`)
  return new Map(entries.filter((entry) => entry.name.endsWith('.ts')).map((entry) => [entry.name, readFileSync(join(CONSOLE_SRC, entry.name), 'utf8')]))
}

t.test('the console keeps no copy of the cookie names or the user-id pattern', async (t) => {
  const sources = consoleSources()
  t.ok(sources.size >= 5, `console/src read (${[...sources.keys()].join(', ')})`)
  for (const [file, source] of sources) {
    t.notMatch(source, /gatehouse_(?:csrf|session)/, `${file} names no Gatehouse cookie (import CSRF_COOKIE_NAMES)`)
    t.notMatch(source, /\{8\}-.{0,60}\{12\}/, `${file} spells no user-id pattern (import USER_ID_PATTERN)`)
    for (const [, specifier] of source.matchAll(/^import .* from '(@gatehouse\/[^']*)'/gm)) {
      t.equal(specifier, '@gatehouse/session-reader/constants', `${file} imports only the library's constants, which a browser can load`)
    }
  }
  t.match(sources.get('api.ts'), /from '@gatehouse\/session-reader\/constants'/, 'api.ts takes the CSRF cookie names from the library')
  t.match(sources.get('api.ts'), /headers\[CSRF_HEADER\]/, 'and the CSRF header\'s name')
})

t.test('the constants module imports nothing, and the console bundle nothing of Node', async (t) => {
  const source = readFileSync(join(ROOT, 'packages/session-reader/src/constants.ts'), 'utf8')
  t.notMatch(source, /^\s*(?:import|export .* from)\b|\brequire\(|\bimport\(/m, 'constants.ts imports nothing')
  const built = readFileSync(join(ROOT, 'packages/session-reader/dist/constants.js'), 'utf8')
  t.notMatch(built, /^\s*(?:import|export .* from)\b|\brequire\(|\bimport\(/m, 'nor does its build')
  const scripts = readdirSync(join(CONSOLE_DIST, 'assets')).filter((name) => name.endsWith('.js'))
  t.ok(scripts.length > 0)
  for (const name of scripts) {
    const bundle = readFileSync(join(CONSOLE_DIST, 'assets', name), 'utf8')
    t.notMatch(bundle, /["'`]node:|\brequire\(/, `${name}: nothing of Node`)
    t.match(bundle, CSRF_COOKIE.hostOnly, `${name} carries the library's cookie names`)
  }
})

t.test('the constants are the ones the library and Gatehouse apply', async (t) => {
  const hostOnly = cookieNames({ secure: true, shared: false })
  const shared = cookieNames({ secure: true, shared: true })
  const plainHttp = cookieNames({ secure: false, shared: false })
  t.same(CSRF_COOKIE_NAMES, [hostOnly.csrf, shared.csrf, plainHttp.csrf], 'every CSRF cookie name, __Host- first')
  t.same(shared.session, [SESSION_COOKIE.hostOnly, SESSION_COOKIE.shared], 'the order Gatehouse reads the session cookies in: __Host- first')
  t.same(plainHttp.session, [SESSION_COOKIE.plainHttp])
  t.equal(CREDENTIALS_CSRF_HEADER, CSRF_HEADER)
  t.equal(TOKEN_USER_ID_PATTERN, USER_ID_PATTERN)
  t.equal(SERVER_USER_ID_PATTERN, USER_ID_PATTERN, 'the route schemas\' pattern')
  const userId = new RegExp(USER_ID_PATTERN)
  t.ok(userId.test('45e96239-43d9-4590-b3fd-0123456789ab'))
  t.notOk(userId.test('45E96239-43D9-4590-B3FD-0123456789AB'), 'lower case only')
})
