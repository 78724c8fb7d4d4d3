import { connect } from 'node:net'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

/** Sends raw bytes and returns the whole raw response (the server closes the connection). */
function rawRequest (port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(bytes))
    let response = ''
    socket.setEncoding('utf8')
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')))
    socket.on('data', (chunk) => (response += chunk))
    socket.on('close', () => resolve(response))
    socket.on('error', (err) => (response ? resolve(response) : reject(err)))
  })
}

t.test('errors raised below Fastify are JSON {error, message} too', async (t) => {
  const ctx = await buildTestApp(t)
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }

  const huge = await rawRequest(port, `GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Token token=${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(huge, /^HTTP\/1\.1 431 /)
  t.match(huge, /content-type: application\/json/i)
  t.same(JSON.parse(huge.slice(huge.indexOf('\r\n\r\n') + 4)), { error: 'headers_too_large', message: 'Request headers are too large' })

  const garbage = await rawRequest(port, 'THIS IS NOT HTTP\r\n\r\n')
  t.match(garbage, /^HTTP\/1\.1 400 /)
  t.same(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4)), { error: 'bad_request', message: 'Malformed HTTP request' })
})
