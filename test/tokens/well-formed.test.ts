import { createPrivateKey, sign } from 'node:crypto'
import { createSessionReader } from '@gatehouse/session-reader'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_JWT_PUBLIC_KEY, TEST_JWT_PRIVATE_KEY } from '../helpers/config.js'
import { headerOf, me, newSession } from '../helpers/http.js'

// Gatehouse verifies with the session reader library's local key set, so it refuses what the
// contract says is not a token (docs/session-contract.md, contract/README.md) exactly as readers
// do, even under a genuine signature of its own key: it could never have issued such a token.

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url')

t.test('a genuine signature over what is not a well-formed JWS: refused by Gatehouse as by a reader', async (t) => {
  const ctx = await buildTestApp(t)
  const { token } = await newSession(ctx)
  const reader = createSessionReader({ redis: ctx.redis, keyPrefix: ctx.config.redisKeyPrefix, keys: { publicKeys: [TEST_JWT_PUBLIC_KEY] } })
  const key = createPrivateKey(TEST_JWT_PRIVATE_KEY)
  /** Any header and payload, signed with Gatehouse's own Ed25519 key. */
  const signed = (header: string, payload: string | Buffer) => {
    const input = `${b64(header)}.${b64(payload)}`
    return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`
  }
  const headerText = JSON.stringify(headerOf(token))
  const payloadText = Buffer.from(token.split('.')[1]!, 'base64url').toString()
  const answers = async (candidate: string) => ({
    gatehouse: (await me(ctx.app, `Token token=${candidate}`)).statusCode,
    reader: (await reader.read(candidate)).live,
  })

  t.same(await answers(signed(headerText, payloadText)), { gatehouse: 200, reader: true }, 'the same token signed again: the control')
  const cases: [string, string][] = [
    ['a payload in invalid UTF-8', signed(headerText, Buffer.concat([Buffer.from(payloadText.slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')]))],
    ['a payload with a BOM', signed(headerText, `\uFEFF${payloadText}`)],
    ['a crit header', signed(JSON.stringify({ ...headerOf(token), crit: ['x'], x: 1 }), payloadText)],
    ['a payload that is an array', signed(headerText, `[${payloadText}]`)],
  ]
  for (const [what, candidate] of cases) t.same(await answers(candidate), { gatehouse: 401, reader: false }, what)
})
