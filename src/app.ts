import cookie from '@fastify/cookie'
import cors from '@fastify/cors'
import Fastify, { type FastifyInstance, type FastifyServerOptions, type onRequestAsyncHookHandler } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from './config/index.js'
import { createDatabase, type Database } from './db/prisma.js'
import { createAuthenticate } from './http/authenticate.js'
import { configureBodyParsing } from './http/body-parsing.js'
import { clientErrorHandler, installErrorHandlers } from './http/error-handler.js'
import { connectRedis, createRedisClient } from './redis/client.js'
import { healthRoutes } from './routes/health.js'
import { meRoutes } from './routes/me.js'
import { sessionRoutes } from './routes/sessions.js'
import { userRoutes } from './routes/users.js'
import { createSessionStore, type SessionStore } from './sessions/store.js'
import { createTokenService, type TokenService } from './tokens/tokens.js'
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
  authenticate: onRequestAsyncHookHandler
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
    clientErrorHandler,
    ajv: {
      // Unknown fields are an error (400), not silently dropped; "123" is not a number.
      customOptions: { removeAdditional: false, coerceTypes: false },
    },
  })
  configureBodyParsing(app)
  installErrorHandlers(app)

  const redis = createRedisClient({ url: config.redisUrl, commandTimeoutMs: config.redisCommandTimeoutMs, logger: app.log })
  const db = createDatabase(config.databaseUrl)
  app.addHook('onClose', async () => {
    if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect())
    else redis.disconnect()
    await db.$disconnect()
  })
  await connectRedis(redis, 2000)

  const sessions = createSessionStore(redis, {
    keyPrefix: config.redisKeyPrefix,
    ttlSeconds: config.sessionTtlSeconds,
    maxAgeSeconds: config.sessionMaxAgeSeconds,
  })
  const tokens = createTokenService(config.jwtSecret)
  const services: Services = {
    redis,
    db,
    users: createUserRepository(db),
    passwords: await createPasswordHasher(config.bcryptCost),
    sessions,
    tokens,
    authenticate: createAuthenticate(tokens, sessions),
  }
  app.decorateRequest('auth', null)

  await app.register(cookie)
  await app.register(cors, {
    // Off unless CORS_ORIGINS lists origins; never a wildcard.
    origin: config.corsOrigins.length > 0 ? config.corsOrigins : false,
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    exposedHeaders: ['WWW-Authenticate', 'Retry-After'],
  })

  await app.register(healthRoutes, services)
  await app.register(userRoutes, services)
  await app.register(sessionRoutes, services)
  await app.register(meRoutes, services)
  return app
}
