import type { FastifyPluginAsync, RouteOptions } from 'fastify'
import { readsOnly } from '../http/body-parsing.js'
import { adminOnly } from '../plugins/authenticate.js'
import { BODY_FAILURES, type Failure, SESSION_FAILURES, withFailures } from '../schemas/errors.js'
import type { SseLimits } from '../http/sse.js'
import { accountRecoveryRoutes } from './account-recovery.js'
import { activityRoutes } from './activity.js'
import { adminRoutes } from './admin.js'
import { consoleRoutes } from './console.js'
import { healthRoutes, type Lifecycle } from './health.js'
import { introspectionRoutes } from './introspect.js'
import { jwksRoutes } from './jwks.js'
import { loginRoutes } from './login.js'
import { meRoutes } from './me.js'
import { metricsRoutes } from './metrics.js'
import { sessionRoutes } from './sessions.js'
import { sessionsNowRoutes } from './sessions-now.js'
import { settingsRoutes } from './settings.js'
import { userRoutes } from './users.js'

/**
 * Every route, by who may call it. Public routes first; then one encapsulated context whose
 * onRequest hook is `authenticate`, so no route inside can forget it; inside that, the admin
 * context adds `adminOnly`.
 */
export const routes: FastifyPluginAsync<{ lifecycle: Lifecycle, eventStreams?: Partial<SseLimits> }> = async (app, { lifecycle, eventStreams }) => {
  // What each gate can answer goes into the OpenAPI document beside the route's own failures
  // (src/schemas/errors.ts). Every route first: a refused body or query, and no security unless a
  // route or a gate below says which.
  app.addHook('onRoute', (route) => {
    if (route.schema?.hide === true) return
    route.schema = { ...route.schema, security: route.schema?.security ?? [], response: withFailures(route.schema?.response as Record<string, unknown>, ...inputFailures(route)) }
  })
  await app.register(healthRoutes, { lifecycle })
  await app.register(userRoutes)
  await app.register(loginRoutes)
  await app.register(accountRecoveryRoutes)
  await app.register(jwksRoutes)
  await app.register(introspectionRoutes)
  await app.register(metricsRoutes)
  if (app.config.consoleEnabled) await app.register(consoleRoutes, { hosts: app.config.consoleHosts })

  await app.register(async (authenticated) => {
    authenticated.addHook('onRequest', authenticated.authenticate)
    // Routes behind the session check say so in the OpenAPI document: the token in Authorization,
    // or the web app's cookie (with the CSRF header on a request that changes state).
    authenticated.addHook('onRoute', (route) => {
      const safe = readsOnly(route.method)
      const cookie: Record<string, string[]> = safe ? { sessionCookie: [] } : { sessionCookie: [], csrfToken: [] }
      const security = [{ sessionToken: [] }, cookie]
      const failures: Failure[] = safe ? [...SESSION_FAILURES] : [...SESSION_FAILURES, 'csrf_rejected']
      route.schema = { ...route.schema, security, response: withFailures(route.schema?.response as Record<string, unknown>, ...failures) }
    })
    await authenticated.register(meRoutes)
    await authenticated.register(sessionRoutes)

    await authenticated.register(async (admin) => {
      admin.addHook('onRequest', adminOnly)
      admin.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, response: withFailures(route.schema?.response as Record<string, unknown>, 'forbidden') }
      })
      await admin.register(adminRoutes)
      await admin.register(sessionsNowRoutes)
      await admin.register(settingsRoutes)
      await admin.register(activityRoutes, { eventStreams })
    })
  })
}

/**
 * What Fastify refuses before a handler runs: a parameter, query or header its schema refuses
 * (400), and on a method that reads a body, a malformed one (400), one too large (413) or of a type
 * it does not read (415), whether or not the route takes a body.
 */
function inputFailures (route: RouteOptions): Failure[] {
  if (!readsOnly(route.method)) return [...BODY_FAILURES]
  const schema = route.schema ?? {}
  return schema.params || schema.querystring || schema.headers ? ['bad_request'] : []
}
