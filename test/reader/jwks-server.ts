import type { KeyObject } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { TOKEN_TYPE } from '@gatehouse/session-reader/token'
import { createSigner } from 'fast-jwt'
import type { Test } from 'tap'

// For the library's JWKS tests: a JWKS server of the test's own, and tokens signed under any kid.

/** A JWKS server counting its requests; `answer` decides each one. Closed at teardown, hanging answers too. */
export async function jwksServer (t: Test, answer: (res: ServerResponse) => void): Promise<{ url: string, hits: () => number }> {
  let hits = 0
  const server = createServer((_req, res) => { hits++; answer(res) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, hits: () => hits }
}

/** A session token as Gatehouse would sign it, by `privateKey` under `kid`, valid for an hour (no session behind it). */
export function signedUnder (privateKey: KeyObject, kid: string, alg: 'EdDSA' | 'RS256' = 'EdDSA'): string {
  const now = Date.now()
  return createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: alg, kid, header: { alg, typ: TOKEN_TYPE }, iss: 'gatehouse' })({
    jti: 'AAAAAAAAAAAAAAAAAAAAAA', user_id: '45e96239-43d9-4590-b3fd-1600c516e4d8', created_at: now, iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 3600,
  })
}
