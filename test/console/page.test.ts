import { readdirSync } from 'node:fs'
import t from 'tap'
import Fastify from 'fastify'
import { CONSOLE_DIST, consoleRoutes } from '../../src/routes/console.js'
import { buildTestApp } from '../helpers/app.js'
import { TEST_JWT_SECRET } from '../helpers/config.js'
import { call, newAdmin } from '../helpers/http.js'

// The console's page and files as Gatehouse serves them: the headers that keep it safe, the
// cache rules that keep it fast, and CONSOLE_ENABLED.

const directives = (csp: string) => new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]))

t.test('the page: a strict CSP, never stored, naming this build\'s hashed files', async (t) => {
  const { app } = await buildTestApp(t)
  const page = await app.inject({ url: '/console' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html; charset=utf-8/)
  t.equal(page.headers['cache-control'], 'no-store')
  t.equal(page.headers['x-frame-options'], 'DENY')
  t.equal(page.headers['x-content-type-options'], 'nosniff')
  const csp = directives(String(page.headers['content-security-policy']))
  t.same(csp.get('default-src'), ["'none'"])
  t.same(csp.get('script-src'), ["'self'"], 'no inline script, no eval')
  t.same(csp.get('style-src'), ["'self'"], 'no inline style')
  t.same(csp.get('connect-src'), ["'self'"])
  t.same(csp.get('frame-ancestors'), ["'none'"])
  t.same(csp.get('base-uri'), ["'none'"])
  t.notMatch(page.body, /<script>|<style|\sstyle=|\son\w+=/i, 'no inline script, style or handler in the page')
  t.notMatch(page.body, /eyJ|gatehouse-test-secret/, 'no token, no secret')
  t.notMatch(page.body, TEST_JWT_SECRET)

  const files = [...page.body.matchAll(/"console\/assets\/([^"]+)"/g)].map((m) => m[1]!)
  t.same(files.sort(), readdirSync(`${CONSOLE_DIST}/assets`).sort(), 'the page names exactly the files the build wrote')
  for (const file of files) {
    t.match(file, /^main-[A-Z0-9]{8}\.(js|css)$/, 'named by a hash of the content')
    const res = await app.inject({ url: `/console/assets/${file}` })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable', 'kept for good: a new build is a new name')
    t.match(res.headers['content-type'], file.endsWith('.js') ? /^text\/javascript/ : /^text\/css/)
    t.notMatch(res.body, /eval\(|new Function\(/, 'nothing the CSP would block')
  }
  t.equal((await app.inject({ url: '/console/' })).headers.location, '../console', '/console/ leads to the page, relative so a proxy\'s path prefix stays')
})

t.test('only the built files are served: no path reaches the file system', async (t) => {
  const { app } = await buildTestApp(t)
  for (const url of ['/console/assets/../../package.json', '/console/assets/%2e%2e%2fpackage.json', '/console/assets/', '/console/assets/main.js', '/console/index.html', '/console/assets/MAIN-X.JS', '/console/src/main.ts']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 404, url)
    t.notMatch(res.body, /"name": "gatehouse"|import /, url)
  }
})

t.test('CONSOLE_ENABLED=false: no page and no files; the admin API stays', async (t) => {
  const ctx = await buildTestApp(t, { CONSOLE_ENABLED: 'false' })
  t.equal((await ctx.app.inject({ url: '/console' })).statusCode, 404)
  const file = readdirSync(`${CONSOLE_DIST}/assets`)[0]!
  t.equal((await ctx.app.inject({ url: `/console/assets/${file}` })).statusCode, 404)
  const admin = await newAdmin(ctx)
  t.equal((await call(ctx.app, 'GET', '/admin/activity', admin.token)).statusCode, 200)
})

t.test('a console that was never built stops the start with what to do', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(consoleRoutes, { dir: '/nonexistent/console/dist' }).ready() }, /The ops console is not built .*run npm run build, or set CONSOLE_ENABLED=false/)
})
