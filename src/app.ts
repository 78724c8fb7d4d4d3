import cookie from '@fastify/cookie'
import cors from '@fastify/cors'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, type onRequestAsyncHookHandler } from 'fastify'
import { randomUUID } from 'node:crypto'
import pino from 'pino'
import type { Config } from './config/index.js'
import { createDatabase, type Database, warmUp } from './db/prisma.js'
import { createAuthenticate } from './http/authenticate.js'
import { createSessionCookies, CSRF_HEADER, type SessionCookies } from './http/session-cookie.js'
import { BODY_LIMIT_BYTES, configureBodyParsing } from './http/body-parsing.js'
import { clientErrorHandler, installErrorHandlers } from './http/error-handler.js'
import { registerSecurityHeaders } from './http/security-headers.js'
import { createMetrics, type Metrics } from './metrics.js'
import { closeRedis, connectRedis, createRedisClient, type RedisClient } from './redis/client.js'
import { adminRoutes } from './routes/admin.js'
import { apiDocs, DOCS_PREFIX } from './routes/docs.js'
import { healthRoutes, type Lifecycle } from './routes/health.js'
import { introspectionRoutes } from './routes/introspect.js'
import { jwksRoutes } from './routes/jwks.js'
import { meRoutes } from './routes/me.js'
import { metricsRoutes } from './routes/metrics.js'
import { sessionRoutes } from './routes/sessions.js'
import { settingsRoutes } from './routes/settings.js'
import { userRoutes } from './routes/users.js'
import { createEventStream, fanOut } from './sessions/events.js'
import { startExpiryWatcher } from './sessions/expiry-watcher.js'
import { migrateInBackground } from './sessions/migrate-layout.js'
import { createLogin } from './sessions/login.js'
import { createSessionTtl, type SessionTtl } from './sessions/session-ttl.js'
import { countSessions, createSessionStore, type SessionStore } from './sessions/store.js'
import { createThrottles, type Throttles } from './throttle/throttles.js'
import { createTokenService, type TokenService } from './tokens/tokens.js'
import { type AccountService, createAccountService } from './users/account.js'
import { createPasswordHasher, type PasswordHasher } from './users/passwords.js'
import { createUserRepository, type UserRepository } from './users/repository.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** A shutdown has begun: /ready answers 503 from now on (the server keeps serving until closed). */
    beginDraining(): void
  }
}

/** What the routes are given: built once per app, closed with it. */
export interface Services {
  redis: RedisClient
  db: Database
  users: UserRepository
  passwords: PasswordHasher
  /** Brute-force limits on password checks and sign-ups, shared through Redis. */
  throttles: Throttles
  sessions: SessionStore
  /** The sliding TTL in force, shared through Redis. */
  ttl: SessionTtl
  metrics: Metrics
  tokens: TokenService
  login: ReturnType<typeof createLogin>
  account: AccountService
  authenticate: onRequestAsyncHookHandler
  /** The web app's cookie transport and its CSRF checks. */
  cookies: SessionCookies
  /** SESSION_TRANSPORT: what a login gets when it does not say. */
  transport: 'header' | 'cookie'
  /** Stops the TTL refresh and the password threads, and closes the Redis and Postgres clients. */
  close(): Promise<void>
}

export interface BuildAppOptions {
  /** Move sessions a layout-2 release wrote to today's keys, in the background once listening (the server does; tests call it directly). */
  migrateLegacySessions?: boolean
  /** false: no logs (tests). Otherwise JSON logs, at config.logLevel unless `level` says, to stdout unless `stream` says. */
  logger?: false | { level?: string; stream?: NodeJS.WritableStream }
}

/** A caller's X-Request-Id is kept (to follow a request across services) only if it looks like one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Builds the whole service: used by src/server.ts and by every test. Owns its clients (no
 * module-level singletons), so two apps with different key prefixes can run side by side.
 */
export async function buildApp (config: Config, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger === false
      ? false
      : {
          level: options.logger?.level ?? config.logLevel,
          // Tokens must never reach the logs: a request is logged as these fields and nothing else, so no
          // header (Authorization, Cookie) can be. This replaces pino's redact, which cloned every
          // line to blank paths that were never there (1.7% of GET /me's CPU).
          serializers: {
            req: (request: FastifyRequest) => ({ method: request.method, url: request.url, host: request.host, remoteAddress: request.ip }),
          },
          // Written asynchronously: under load, lines that arrive while a write is in flight go out
          // together in the next one, instead of one blocking write(2) per line (docs/performance.md).
          // pino flushes what is left when the process exits.
          stream: options.logger?.stream ?? pino.destination({ dest: 1, sync: false }),
        },
    // One access-log line per request, written when it ends (see the onResponse hook), rather
    // than Fastify's two ("incoming request" and "request completed").
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    bodyLimit: BODY_LIMIT_BYTES,
    // request.ip (recorded with each session) comes from X-Forwarded-For only through these proxies.
    // (A number of hops is supported by Fastify but missing from its types, hence the function.)
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : config.trustProxy,
    clientErrorHandler,
    ajv: {
      // Unknown fields are an error (400), not silently dropped; "123" is not a number.
      customOptions: { removeAdditional: false, coerceTypes: false },
    },
  })
  configureBodyParsing(app)
  installErrorHandlers(app)

  const services = await createServices(config, app.log)
  app.addHook('onClose', services.close)
  // Here, not in createServices: the server's first /ready and login should not pay for Prisma's
  // cold start, but the command-line tool has no use for it.
  await warmUp(services.db, config.databaseTimeoutMs)
  app.decorateRequest('auth', null)
  if (options.migrateLegacySessions) {
    app.addHook('onListen', (done) => {
      void migrateInBackground(services.redis, config.redisKeyPrefix, app.log)
      done()
    })
  }
  if (config.expiredEvents !== 'off') {
    const watcher = startExpiryWatcher(services.redis, services.sessions, {
      keyPrefix: config.redisKeyPrefix,
      configure: config.expiredEvents === 'configure',
      log: app.log,
    })
    app.addHook('onClose', watcher.close)
  }

  // Callback-style hooks: they run on every request, and skip the promise an async hook costs.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    services.metrics.httpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000)
    request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
    done()
  })

  registerSecurityHeaders(app, DOCS_PREFIX)
  await app.register(cookie)
  await app.register(cors, {
    // Off unless CORS_ORIGINS lists origins; never a wildcard (config refuses "*"), so credentials
    // (the cookie transport) can be allowed for exactly those origins.
    origin: config.corsOrigins.length > 0 ? config.corsOrigins : false,
    credentials: true,
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Client', CSRF_HEADER],
    exposedHeaders: ['WWW-Authenticate', 'Retry-After', 'X-Request-Id'],
  })
  // Before the routes: it collects their schemas into the OpenAPI document served at /docs.
  await app.register(apiDocs)
  app.addHook('onRoute', (route) => {
    // Routes behind the session check say so in the OpenAPI document.
    const hooks = [route.onRequest].flat()
    if (hooks.includes(services.authenticate)) route.schema = { ...route.schema, security: [{ sessionToken: [] }] }
  })

  const lifecycle: Lifecycle = { draining: false }
  app.decorate('beginDraining', () => {
    lifecycle.draining = true
  })
  await app.register(healthRoutes, { ...services, lifecycle })
  await app.register(userRoutes, services)
  await app.register(sessionRoutes, services)
  await app.register(meRoutes, services)
  await app.register(adminRoutes, services)
  await app.register(jwksRoutes, services)
  await app.register(settingsRoutes, services)
  await app.register(introspectionRoutes, { ...services, introspectionTokens: config.introspectionTokens })
  await app.register(metricsRoutes, services)
  return app
}

const trustHops = (hops: number) => (_address: string, hop: number) => hop < hops

/** The clients and services, without HTTP: used by `buildApp` and by the command-line tool. */
export async function createServices (config: Config, log: Pick<FastifyBaseLogger, 'warn' | 'info'>): Promise<Services> {
  const redis = createRedisClient({ target: config.redis, commandTimeoutMs: config.redisCommandTimeoutMs, logger: log })
  const db = createDatabase(config.databaseUrl, config.databaseTimeoutMs, config.databasePoolSize)
  let stopTtl = () => {}
  let stopPasswords = async () => {}
  const close = async () => {
    stopTtl()
    await stopPasswords()
    await closeRedis(redis)
    await db.$disconnect()
  }
  try {
    await connectRedis(redis, 2000)
    const ttl = createSessionTtl(redis, {
      keyPrefix: config.redisKeyPrefix,
      defaultSeconds: config.sessionTtlSeconds,
      maxSeconds: config.sessionMaxAgeSeconds,
      log,
    })
    stopTtl = () => ttl.stop()
    await ttl.start()
    const passwords = await createPasswordHasher({ cost: config.bcryptCost, threads: config.bcryptThreads, maxQueue: config.bcryptMaxQueue })
    stopPasswords = () => passwords.close()
    const metrics = createMetrics(() => countSessions(redis, config.redisKeyPrefix), () => passwords.waiting())
    const throttles = createThrottles(redis, {
      ...config.throttle,
      keyPrefix: config.redisKeyPrefix,
      onLimited: (limit) => metrics.throttled.inc({ limit }),
    })
    const stream = createEventStream(redis, {
      keyPrefix: config.redisKeyPrefix,
      maxLength: config.eventsMaxLength,
      log,
      onFailure: (count) => metrics.eventsFailed.inc(count),
    })
    const sessions = createSessionStore(redis, {
      keyPrefix: config.redisKeyPrefix,
      ttlSeconds: ttl.seconds,
      maxAgeSeconds: config.sessionMaxAgeSeconds,
      maxPerUser: config.sessionMaxPerUser,
      events: fanOut(stream, metrics.events),
      observe: metrics.redisOperation,
      waitReplicas: {
        count: config.redisWaitReplicas,
        // Half the command timeout: WAIT must give up before the client gives up on WAIT.
        timeoutMs: Math.max(1, Math.floor(config.redisCommandTimeoutMs / 2)),
        onShortfall: (operation, acknowledged) => {
          metrics.unreplicatedRevocations.inc()
          log.warn({ operation, acknowledged, wanted: config.redisWaitReplicas }, 'a revocation was not confirmed by enough replicas in time; a failover now could undo it')
        },
      },
      onSweepStopped: (userId, deleted, err) => {
        metrics.sweepsStopped.inc()
        log.warn({ userId, deleted, err: (err as Error).message }, 'a revoke-all stopped deleting session keys; the rest are refused all the same and expire on their own')
      },
    })
    const tokens = createTokenService(config.jwt)
    const cookies = createSessionCookies(config.cookies, config.corsOrigins)
    const users = createUserRepository(db)
    return {
      redis,
      db,
      users,
      passwords,
      throttles,
      sessions,
      ttl,
      metrics,
      tokens,
      login: createLogin({ users, passwords, throttles, sessions, tokens, metrics, log }),
      account: createAccountService({ users, passwords, throttles, sessions }),
      authenticate: createAuthenticate({ tokens, sessions, users, metrics, cookies }),
      cookies,
      transport: config.cookies.defaultTransport,
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}
