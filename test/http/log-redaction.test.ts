import { connect } from 'node:net'
import t from 'tap'
import { buildTestApp, captureLogs } from '../helpers/app.js'
import { call, newAdmin, newSession, PASSWORD } from '../helpers/http.js'

// What the access log writes of a URL: the path and the query's names; values only of the paging
// parameters, in their own shape. Never an email however the name is spelled, never a credential.

/** The `url` of the one access-log line of the request with this id. */
function loggedUrl (lines: string[], id: string): string | undefined {
  const found = lines.map((line) => JSON.parse(line)).filter((l) => l.reqId === id && l.msg === 'request completed')
  return found.length === 1 ? found[0].req.url : undefined
}

t.test('an email in the query is not logged, however its name is spelled', async (t) => {
  const logs = captureLogs('info')
  const ctx = await buildTestApp(t, {}, { logger: logs.logger })
  const admin = await newAdmin(ctx)
  const { email } = await newSession(ctx)
  const mail = encodeURIComponent(email)
  // [sent, logged, what the route makes of it]
  const cases: Array<[string, string, number]> = [
    [`/admin/users?email=${mail}`, '/admin/users?email=[redacted]', 200],
    [`/admin/users?e%6Dail=${mail}`, '/admin/users?e%6Dail=[redacted]', 200],
    [`/admin/users?%65%6d%61%69%6c=${mail}`, '/admin/users?%65%6d%61%69%6c=[redacted]', 200],
    [`/admin/users?EMAIL=${mail}`, '/admin/users?EMAIL=[redacted]', 400],
    [`/admin/users?email[]=${mail}`, '/admin/users?email[]=[redacted]', 400],
    [`/admin/users?email=${mail}&email=${mail}`, '/admin/users?email=[redacted]&email=[redacted]', 400],
    [`/admin/users?em+ail=${mail}`, '/admin/users?em+ail=[redacted]', 400],
    [`/admin/users?%=1&email%=${mail}`, '/admin/users?[redacted]&[redacted]', 400],
    [`/admin/users?x=1&email=${mail}`, '/admin/users?x=[redacted]&email=[redacted]', 400],
    [`/admin/users?${mail}`, '/admin/users?[redacted]', 400],
    ['/admin/users?email', '/admin/users?email', 400],
    // The admin's search holds part of an email, or all of it.
    [`/admin/users?q=${mail}`, '/admin/users?q=[redacted]', 200],
    [`/admin/users?q=${mail}&limit=5`, '/admin/users?q=[redacted]&limit=5', 200],
  ]
  for (const [i, [url, logged, status]] of cases.entries()) {
    const res = await ctx.app.inject({ method: 'GET', url, headers: { authorization: `Token token=${admin.token}`, 'x-request-id': `mail-${i}` } })
    t.equal(res.statusCode, status, `${url}: ${status}`)
    if (status === 200) t.equal(res.json().users[0]?.email, email, `${url}: the route read the email`)
    t.equal(loggedUrl(logs.lines, `mail-${i}`), logged, url)
  }
  t.same(logs.lines.filter((line) => line.includes(email) || line.includes(mail) || line.includes(mail.toLowerCase())), [], 'the address is in no line')
})

t.test('a fragment starts the query for Fastify, so it does in the log', async (t) => {
  const logs = captureLogs('info')
  const ctx = await buildTestApp(t, {}, { logger: logs.logger })
  const admin = await newAdmin(ctx)
  const { email } = await newSession(ctx)
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }
  // Sent raw (an HTTP client keeps the fragment to itself), and not half-closed: the answer waits on Redis.
  const response = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET /admin/users#email=${encodeURIComponent(email)} HTTP/1.1\r\nHost: x\r\nAuthorization: Token token=${admin.token}\r\nX-Request-Id: fragment\r\nConnection: close\r\n\r\n`))
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => (received += chunk))
    socket.on('close', () => resolve(received))
    socket.on('error', reject)
  })
  t.match(response, /^HTTP\/1\.1 200 /, 'the route read the email after the #')
  t.match(response, email)
  t.equal(loggedUrl(logs.lines, 'fragment'), '/admin/users#email=[redacted]')
  t.notOk(logs.lines.some((line) => line.includes(email)), 'the address is in no line')
})

t.test('a credential in the URL is never logged', async (t) => {
  const logs = captureLogs('trace')
  const ctx = await buildTestApp(t, {}, { logger: logs.logger })
  const { token } = await newSession(ctx)
  const secrets = [token, token.split('.')[2]!, PASSWORD, encodeURIComponent(PASSWORD)]
  const opaque = 'S3cr3t-0123456789abcdefghijABCDEFGHIJ_xyz'
  secrets.push(opaque)
  const pass = encodeURIComponent(PASSWORD)
  const dotted = token.replaceAll('.', '%2E')
  const cases: Array<[string, string]> = [
    [`/me?token=${token}`, '/me?token=[redacted]'],
    [`/me?access_token=${token}&jwt=${token}`, '/me?access_token=[redacted]&jwt=[redacted]'],
    [`/me?password=${pass}&secret=${opaque}&csrf_token=${opaque}&api_key=${opaque}`, '/me?password=[redacted]&secret=[redacted]&csrf_token=[redacted]&api_key=[redacted]'],
    [`/me?Token=${token}`, '/me?Token=[redacted]'],
    [`/me?${token}`, '/me?[redacted]'],
    [`/me?${opaque}`, '/me?[redacted]'],
    [`/me?${opaque}=1`, '/me?[redacted]'],
    [`/me?x=${token}`, '/me?x=[redacted]'],
    [`/sessions?limit=${token}`, '/sessions?limit=[redacted]'],
    [`/sessions?cursor=${token}`, '/sessions?cursor=[redacted]'],
    [`/sessions?limit=5&limit=${opaque}`, '/sessions?limit=5&limit=[redacted]'],
    [`/no/such/${token}`, '/no/such/[redacted]'],
    [`/no/such/${dotted}`, '/no/such/[redacted]'],
    [`/no/such/prefix-${token}-suffix/more`, '/no/such/[redacted]/more'],
    [`/sessions/${token}`, '/sessions/[redacted]'],
    // A segment that does not decode may hide one (Fastify refuses the URL, the log line stays).
    [`/no/such/%65${token.slice(1)}%ff`, '/no/such/[redacted]'],
  ]
  for (const [i, [url, logged]] of cases.entries()) {
    const res = await ctx.app.inject({ method: 'GET', url, headers: { authorization: `Token token=${token}`, 'x-request-id': `cred-${i}` } })
    t.ok(res.statusCode < 500, `${url.slice(0, 40)}…: answered (${res.statusCode})`)
    t.equal(loggedUrl(logs.lines, `cred-${i}`), logged, logged)
  }
  for (const secret of secrets) t.same(logs.lines.filter((line) => line.includes(secret)), [], `never logged: ${secret.slice(0, 10)}…`)
})

t.test('what the log keeps: the path, the names, and the paging values the routes accept', async (t) => {
  const logs = captureLogs('info')
  const ctx = await buildTestApp(t, {}, { logger: logs.logger })
  const { token } = await newSession(ctx)
  const page = (await call(ctx.app, 'GET', '/sessions?limit=1', token)).json()
  const cursor = page.next_cursor ?? '1700000000000.AAAAAAAAAAAAAAAAAAAAAA'
  const cases: Array<[string, string]> = [
    ['/sessions', '/sessions'],
    ['/sessions?limit=1', '/sessions?limit=1'],
    [`/sessions?limit=2&cursor=${cursor}`, `/sessions?limit=2&cursor=${cursor}`],
    ['/sessions?limit=1x', '/sessions?limit=[redacted]'],
    ['/sessions?LIMIT=1', '/sessions?LIMIT=[redacted]'],
    ['/sessions?l%69mit=1', '/sessions?l%69mit=1'],
    ['/sessions?limit=%31', '/sessions?limit=[redacted]'],
    ['/sessions?&&limit=1&', '/sessions?&&limit=1&'],
    ['/sessions?limit', '/sessions?limit'],
    ['/sessions?__proto__=1&constructor=2', '/sessions?__proto__=[redacted]&constructor=[redacted]'],
    ['/admin/clients/com.example.ios', '/admin/clients/com.example.ios'],
    ['/no%2Fsuch/caf%C3%A9', '/no%2Fsuch/caf%C3%A9'],
  ]
  for (const [i, [url, logged]] of cases.entries()) {
    await ctx.app.inject({ method: 'GET', url, headers: { authorization: `Token token=${token}`, 'x-request-id': `keep-${i}` } })
    t.equal(loggedUrl(logs.lines, `keep-${i}`), logged, url)
  }
})

t.test('a long path is logged cut, after redaction, and read in one pass', async (t) => {
  const logs = captureLogs('info')
  const ctx = await buildTestApp(t, {}, { logger: logs.logger })
  const { token } = await newSession(ctx)
  // 16 KB of base64url text without a dot: a regex tried from each `e` would read it 8,000 times.
  for (const [i, url] of [`/%41${'ey'.repeat(8000)}`, `/${'-e'.repeat(8000)}`, `/x/${token}/${'e.'.repeat(7000)}`].entries()) {
    const res = await ctx.app.inject({ method: 'GET', url, headers: { 'x-request-id': `long-${i}` } })
    t.equal(res.statusCode, 404)
    const logged = loggedUrl(logs.lines, `long-${i}`)!
    t.equal(logged.length, 2048 + '…[truncated]'.length, `${url.slice(0, 8)}…: cut at 2 KB`)
    t.ok(logged.endsWith('…[truncated]'))
    t.notOk(logged.includes(token.split('.')[2]!), 'a token before the cut is still redacted')
  }
})
