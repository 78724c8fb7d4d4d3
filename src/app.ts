import cookie from '@fastify/cookie'
import cors from '@fastify/cors'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions, type onRequestAsyncHookHandler } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from './config/index.js'
import { createDatabase, type Database } from './db/prisma.js'
import { createAuthenticate } from './http/authenticate.js'
import { configureBodyParsing } from './http/body-parsing.js'
import { clientErrorHandler, installErrorHandlers } from './http/error-handler.js'
import { connectRedis, createRedisClient } from './redis/client.js'
import { adminRoutes } from './routes/admin.js'
import { healthRoutes } from './routes/health.js'
import { jwksRoutes } from './routes/jwks.js'
import { meRoutes } from './routes/me.js'
import { sessionRoutes } from './routes/sessions.js'
import { userRoutes } from './routes/users.js'
import { createLogin } from './sessions/login.js'
import { createSessionStore, type SessionStore } from './sessions/store.js'
import { createTokenService, type TokenService } from './tokens/tokens.js'
import { type AccountService, createAccountService } from './users/account.js'
import { createPasswordHasher, type PasswordHasher } from './users/passwords.js'
import { createUserRepository, type UserRepository } from './users/repository.js'

/** What the routes are given: built once per app, closed with it. */
export interface Services {
  redis: Redis
  db: Database
  users: UserRepository
  passwords: PasswordHasher
  sessions: SessionStore
  tokens: TokenService
  login: ReturnType<typeof createLogin>
  account: AccountService
  authenticate: onRequestAsyncHookHandler
  /** Closes the Redis and Postgres clients. */
  close(): Promise<void>
}

export interface BuildAppOptions {
  /** Fastify logger options; defaults to JSON logs at config.logLevel. */
  logger?: FastifyServerOptions['logger']
}

/** An auth API has small bodies; anything larger is refused (413) before it is parsed. */
const BODY_LIMIT_BYTES = 16 * 1024

/**
 * Builds the whole service: used by src/server.ts and by every test. Owns its clients (no
 * module-level singletons), so two apps with different key prefixes can run side by side.
 */
export async function buildApp(config: Config, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? {
      level: config.logLevel,
      // Tokens must never reach the logs (Fastify does not log headers by default; this is the guard if that changes).
      redact: ['req.headers.authorization', 'req.headers.cookie'],
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
  app.decorateRequest('auth', null)

  await app.register(cookie)
  await app.register(cors, {
    // Off unless CORS_ORIGINS lists origins; never a wildcard.
    origin: config.corsOrigins.length > 0 ? config.corsOrigins : false,
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Client'],
    exposedHeaders: ['WWW-Authenticate', 'Retry-After'],
  })

  await app.register(healthRoutes, services)
  await app.register(userRoutes, services)
  await app.register(sessionRoutes, services)
  await app.register(meRoutes, services)
  await app.register(adminRoutes, services)
  await app.register(jwksRoutes, services)
  return app
}

const trustHops = (hops: number) => (_address: string, hop: number) => hop < hops

/** The clients and services, without HTTP: used by `buildApp` and by the command-line tool. */
export async function createServices(config: Config, log: Pick<FastifyBaseLogger, 'warn' | 'info'>): Promise<Services> {
  const redis = createRedisClient({ url: config.redisUrl, commandTimeoutMs: config.redisCommandTimeoutMs, logger: log })
  const db = createDatabase(config.databaseUrl)
  const close = async () => {
    if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect())
    else redis.disconnect()
    await db.$disconnect()
  }
  try {
    await connectRedis(redis, 2000)
    const sessions = createSessionStore(redis, {
      keyPrefix: config.redisKeyPrefix,
      ttlSeconds: config.sessionTtlSeconds,
      maxAgeSeconds: config.sessionMaxAgeSeconds,
      maxPerUser: config.sessionMaxPerUser,
    })
    const tokens = createTokenService(config.jwt)
    const users = createUserRepository(db)
    const passwords = await createPasswordHasher(config.bcryptCost)
    return {
      redis,
      db,
      users,
      passwords,
      sessions,
      tokens,
      login: createLogin({ users, passwords, sessions, tokens }),
      account: createAccountService({ users, passwords, sessions }),
      authenticate: createAuthenticate({ tokens, sessions, users }),
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}
