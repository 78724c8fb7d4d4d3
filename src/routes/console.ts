import type { FastifyPluginAsync } from 'fastify'
import { readdirSync, readFileSync } from 'node:fs'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { consoleOrigin } from '../http/console-origin.js'

/** Where the ops console is served: the page at /console, its files under /console/assets/. */
export const CONSOLE_PREFIX = '/console'

/**
 * `npm run build` bundles console/src into console/dist (scripts/build-console.mjs). Found from
 * this module, two levels below the project root both as src/routes and as dist/routes.
 */
export const CONSOLE_DIST = fileURLToPath(new URL('../../console/dist/', import.meta.url))

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
}
/** Asset names carry a hash of their content: a new build is a new name, so each may be kept for good. */
const FOREVER = 'public, max-age=31536000, immutable'

/**
 * The ops console (docs/console.md): a page and the few files it loads, read into memory once.
 * The page holds no data: it signs in through POST /sessions with the cookie transport and calls
 * the admin API like any other client, with the same checks. Only the files the build wrote are
 * routes, so no request path ever reaches the file system. Registered only with CONSOLE_ENABLED.
 * `hosts` (CONSOLE_HOSTS): served only to requests for those hosts, a 404 to any other, as if
 * there were no console: a page on any other host, a DNS-rebinding one's included, is not the
 * console and gets nothing of it (and no exception to the CSRF check either: session-cookie.ts).
 */
export const consoleRoutes: FastifyPluginAsync<{ dir?: string, hosts?: readonly string[] }> = async (app, { dir = CONSOLE_DIST, hosts = [] }) => {
  let page: Buffer
  let assets: string[]
  try {
    page = readFileSync(join(dir, 'index.html'))
    assets = readdirSync(join(dir, 'assets'))
  } catch {
    throw new Error(`The ops console is not built (${dir} is missing): run npm run build, or set CONSOLE_ENABLED=false`)
  }

  const { servesConsole } = consoleOrigin(hosts)
  // On a host the console is not at, its routes answer as no route does: the app's own 404.
  app.addHook('onRequest', (request, reply, done) => {
    if (servesConsole(request)) done()
    else reply.callNotFound()
  })

  app.get(CONSOLE_PREFIX, { schema: { hide: true } }, (_request, reply) => {
    // The page names the current build's files: always fetched anew, never stored.
    reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page)
  })
  app.get(`${CONSOLE_PREFIX}/`, { schema: { hide: true } }, (_request, reply) => {
    reply.redirect(`../${CONSOLE_PREFIX.slice(1)}`, 308)
  })
  for (const name of assets) {
    const type = TYPES[extname(name)]
    if (type === undefined) continue
    const body = readFileSync(join(dir, 'assets', name))
    app.get(`${CONSOLE_PREFIX}/assets/${name}`, { schema: { hide: true } }, (_request, reply) => {
      reply.header('cache-control', FOREVER).type(type).send(body)
    })
  }
}
