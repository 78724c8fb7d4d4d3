import cookie from '@fastify/cookie'
import cors from '@fastify/cors'
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { DestinationStream } from 'pino'
import type { Config } from './config/index.js'
import { BODY_LIMIT_BYTES, configureBodyParsing } from './http/body-parsing.js'
import { pinClientAddress } from './http/client-address.js'
import { jsonToStdout } from './log-stream.js'
import { registerCompression } from './http/compression.js'
import { corsPolicy } from './http/cors-policy.js'
import { clientErrorHandler, frameworkErrors, installErrorHandlers } from './http/error-handler.js'
import { registerSecurityHeaders } from './http/security-headers.js'
import type { SseLimits } from './http/sse.js'
import accounts from './plugins/accounts.js'
import activity from './plugins/activity.js'
import mail from './plugins/mail.js'
import authenticate from './plugins/authenticate.js'
import configPlugin from './plugins/config.js'
import database from './plugins/database.js'
import metrics from './plugins/metrics.js'
import passwords from './plugins/passwords.js'
import redis from './plugins/redis.js'
import sessionTtl from './plugins/session-ttl.js'
import sessions from './plugins/sessions.js'
import throttles from './plugins/throttles.js'
import tokens from './plugins/tokens.js'
import { CONSOLE_PREFIX } from './routes/console.js'
import { apiDocs, DOCS_PREFIX } from './routes/docs.js'
import type { Lifecycle } from './routes/health.js'
import { routes } from './routes/index.js'
import { proxyTrust } from './shared/ip-address.js'
import { urlForLog } from './shared/redact-url.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** A shutdown has begun: /ready answers 503 from now on (the server keeps serving until closed). */
    beginDraining(): void
  }
}

export interface BuildAppOptions {
  /** Move sessions a layout-2 release wrote to today's keys, in the background once listening (the server does; tests call it directly). */
  migrateLegacySessions?: boolean
  /** false: no logs (tests). Otherwise logs at config.logLevel unless `level` says, to `stream` (server.ts: LOG_FORMAT's) or else JSON to stdout. */
  logger?: false | { level?: string; stream?: DestinationStream }
  /** The console's event streams' limits (src/http/sse.ts): tests shorten their timings and caps. */
  eventStreams?: Partial<SseLimits>
}

const EMBEDDED_PLUGIN_TIMEOUT_MS = 180_000

/** A caller's X-Request-Id is kept (to follow a request across services) only if it looks like one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Builds the whole service: used by src/server.ts and by every test. Owns its clients (no
 * module-level singletons), so two apps with different key prefixes can run side by side.
 */
export async function buildApp (config: Config, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const trust = config.trustProxy === false ? false : proxyTrust(config.trustProxy)
  const app = Fastify({
    logger: options.logger === false
      ? false
      : {
          level: options.logger?.level ?? config.logLevel,
          // Tokens must never reach the logs: a request is logged as these fields and nothing else, so no
          // header (Authorization, Cookie) can be, and the URL as urlForLog writes it (no query value
          // but the paging ones, no JWT). (pino's redact would clone every line to blank paths that
          // are never there.)
          serializers: {
            req: (request: FastifyRequest) => ({ method: request.method, url: urlForLog(request.url), host: request.host, remoteAddress: request.ip }),
          },
          stream: options.logger?.stream ?? jsonToStdout(),
        },
    // One access-log line per request, written when it ends (see the onResponse hook), rather
    // than Fastify's two ("incoming request" and "request completed").
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    bodyLimit: BODY_LIMIT_BYTES,
    // A client's name (an audience, up to 128 characters) is a path parameter of the admin routes:
    // Fastify's default of 100 would answer 414 before the route checks it. The router counts the
    // decoded value; every parameter is still checked by its route's schema.
    routerOptions: { maxParamLength: 384 },
    // Fastify gives each plugin 10 s to start; the embedded database's first start (initdb) takes
    // about 8 s on a quiet machine of two cores and more on a busy one.
    ...(config.database.mode === 'embedded' ? { pluginTimeout: EMBEDDED_PLUGIN_TIMEOUT_MS } : {}),
    // X-Forwarded-For (and -Host, -Proto) is believed only from these proxies: one function, the
    // same one request.ip is computed with (pinClientAddress, below).
    trustProxy: trust,
    clientErrorHandler,
    frameworkErrors,
    ajv: {
      // Unknown fields are an error (400), not silently dropped; "123" is not a number.
      customOptions: { removeAdditional: false, coerceTypes: false },
    },
  })
  pinClientAddress(app, trust)
  configureBodyParsing(app)
  installErrorHandlers(app)
  try {
    await register(app, config, options)
  } catch (err) {
    // What was opened before the failure (a Redis connection, the password threads) is closed.
    await app.close().catch(() => {})
    throw err
  }
  return app
}

async function register (app: FastifyInstance, config: Config, options: BuildAppOptions): Promise<void> {
  // The resources, each a named plugin that decorates the app, declares what it needs and closes
  // itself (src/plugins). Registered in dependency order; fastify-plugin checks the order.
  await app.register(configPlugin, { config })
  await app.register(redis)
  await app.register(database)
  await app.register(passwords)
  await app.register(sessionTtl)
  await app.register(metrics)
  await app.register(activity)
  await app.register(sessions, { migrateLegacySessions: options.migrateLegacySessions })
  await app.register(tokens)
  await app.register(throttles)
  await app.register(mail)
  await app.register(accounts)
  await app.register(authenticate)

  // Callback-style hooks: they run on every request, and skip the promise an async hook costs.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    app.metrics.httpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000)
    request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
    done()
  })

  registerSecurityHeaders(app, { docs: DOCS_PREFIX, console: CONSOLE_PREFIX })
  await app.register(cookie)
  // Which origins may call, with which headers; never for /admin (src/http/cors-policy.ts).
  await app.register(cors, corsPolicy(config))
  // Before the routes and /docs: gzip/br for large reads, never for an answer with a secret.
  await registerCompression(app)
  // Before the routes: it collects their schemas into the OpenAPI document served at /docs.
  await app.register(apiDocs)
  // A close ends the idle keep-alive connections once, as it begins. One still busy then would stay
  // open after its last answer for as long as the client keeps it (up to the 72 s Keep-Alive) and
  // hold the close: end each as soon as it falls idle, until the server has closed.
  app.addHook('preClose', async () => {
    if (!app.server.listening) return
    const idleSweep = setInterval(() => app.server.closeIdleConnections(), 100).unref()
    app.server.once('close', () => clearInterval(idleSweep))
  })
  const lifecycle: Lifecycle = { draining: false }
  app.decorate('beginDraining', () => {
    lifecycle.draining = true
  })
  await app.register(routes, { lifecycle, eventStreams: options.eventStreams })
}
