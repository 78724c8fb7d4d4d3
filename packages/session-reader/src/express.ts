import type { IncomingMessage, ServerResponse } from 'node:http'
import { type AuthenticateOptions, authenticateRequest } from './authenticate.js'
import type { SessionSnapshot } from './reader.js'

export type GatehouseExpressOptions = AuthenticateOptions

// `req.gatehouse` on Express' Request type. Through the global namespace @types/express merges
// into its Request, so that this file needs no import of express: a service on plain Connect or
// node:http, without @types/express, compiles as well.
declare global {
  namespace Express {
    interface Request {
      /** The caller's live Gatehouse session, set by `gatehouseSessions`; absent on routes it does not guard. */
      gatehouse?: SessionSnapshot
    }
  }
}

/** The request as the middleware leaves it: `req.gatehouse` is the live session. */
export type GatehouseRequest = IncomingMessage & { gatehouse?: SessionSnapshot }

/**
 * The live session of a request that passed `gatehouseSessions`, typed as present. Throws (a 500,
 * never a pass) on a route the middleware does not guard: a mistake in the service's routing.
 *
 *   app.get('/api/me', (req, res) => { res.json({ user: sessionOf(req).userId }) })
 */
export function sessionOf (req: GatehouseRequest): SessionSnapshot {
  if (!req.gatehouse) throw new Error('no Gatehouse session on this request: mount gatehouseSessions() before this route')
  return req.gatehouse
}

/**
 * Connect/Express middleware (Express 4 and 5): the caller's live session on `req.gatehouse`, or
 * the answer Gatehouse would give (401/403/503), written here and the chain stopped.
 *
 *   app.use('/api', gatehouseSessions({ reader }))
 *   app.get('/api/me', (req, res) => { res.json(sessionOf(req)) })
 */
export function gatehouseSessions (options: GatehouseExpressOptions) {
  const authenticate = authenticateRequest({ onFault: (err) => console.warn(err.message), ...options })
  return function gatehouseMiddleware (req: GatehouseRequest, res: ServerResponse, next: (err?: unknown) => void): void {
    // Express 4 ignores a returned promise: every outcome, failures included, is settled here,
    // and nothing thrown after it can escape as an unhandled rejection (which ends the process).
    let passedOn = false
    authenticate({ method: req.method ?? 'GET', headers: req.headers }).then((outcome) => {
      // Another middleware (a timeout, say) may have answered while Redis was being read.
      if (res.headersSent) return
      if (outcome.ok) {
        req.gatehouse = outcome.session
        res.setHeader('cache-control', 'no-store')
        passedOn = true
        return next()
      }
      const { status, headers, body } = outcome.answer
      const text = JSON.stringify(body)
      res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    }).catch((err: unknown) => {
      if (!passedOn && !res.headersSent) next(err)
    })
  }
}

export default gatehouseSessions
