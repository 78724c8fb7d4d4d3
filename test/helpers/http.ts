import { TOKEN_TYPE } from '@gatehouse/session-reader/token'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import type { TestContext } from './app.js'
import { TEST_JWT_KID, TEST_JWT_PRIVATE_KEY } from './config.js'
import { sql } from './db.js'

// Requests and sessions through the API, as a client makes them (app.inject).

/** The password every test user signs up with, unless a test says otherwise. */
export const PASSWORD = 'correct horse battery'

export async function signUp (app: FastifyInstance, email: string, password = PASSWORD) {
  const res = await app.inject({ method: 'POST', url: '/users', payload: { email, password } })
  if (res.statusCode !== 201) throw new Error(`sign-up failed: ${res.statusCode} ${res.body}`)
  return res.json().user as { id: string; email: string; createdAt: string }
}

export async function login (app: FastifyInstance, email: string, password = PASSWORD) {
  const res = await app.inject({ method: 'POST', url: '/sessions', payload: { email, password } })
  if (res.statusCode !== 201) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json() as { user: { id: string; email: string }; token: string }
}

/** Signs up a fresh user and logs in. */
export async function newSession (ctx: TestContext) {
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  const { token } = await login(ctx.app, email)
  return { user, token, email }
}

/** Makes a user admin directly in Postgres (the CLI and the API have their own tests), then logs in. */
export async function newAdmin (ctx: TestContext) {
  const email = ctx.email()
  const user = await signUp(ctx.app, email)
  await sql('UPDATE users SET role = \'admin\' WHERE id = $1', [user.id])
  const { token } = await login(ctx.app, email)
  return { user, token, email }
}

export function me (app: FastifyInstance, authorization?: string) {
  return app.inject({ method: 'GET', url: '/me', headers: authorization === undefined ? {} : { authorization } })
}

/** An authenticated request with `Authorization: Token token=<token>`. */
export function call (app: FastifyInstance, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token: string, payload?: object) {
  return app.inject({ method, url, headers: { authorization: `Token token=${token}` }, ...(payload === undefined ? {} : { payload }) })
}

/**
 * Signs claims as Gatehouse does (EdDSA with the test key and its kid, typed gatehouse-session+jwt),
 * for tests where the token is genuine and only its claims vary; with `secret`, HS256 under that
 * secret instead (a forgery, unless the test app signs with HS256 and that secret).
 */
const signGenuine = createSigner({ key: TEST_JWT_PRIVATE_KEY, algorithm: 'EdDSA', kid: TEST_JWT_KID, header: { alg: 'EdDSA', typ: TOKEN_TYPE } })
export const signAsGatehouse = (claims: Record<string, unknown>, secret?: string): string =>
  secret === undefined ? signGenuine(claims) : createSigner({ key: secret, algorithm: 'HS256', header: { alg: 'HS256', typ: TOKEN_TYPE } })(claims)

/** The header of a token, decoded without verification (as parsed JSON: tests pass its members on to signers). */
export const headerOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'))

/** The claims of a token, decoded without verification (as a test, or another service, would). */
export function claimsOf (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
}
