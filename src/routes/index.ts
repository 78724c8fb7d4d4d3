import type { FastifyPluginAsync } from 'fastify'
import { adminOnly } from '../plugins/authenticate.js'
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
import { settingsRoutes } from './settings.js'
import { userRoutes } from './users.js'

/**
 * Every route, by who may call it. Public routes first; then one encapsulated context whose
 * onRequest hook is `authenticate`, so no route inside can forget it; inside that, the admin
 * context adds `adminOnly`.
 */
export const routes: FastifyPluginAsync<{ lifecycle: Lifecycle }> = async (app, { lifecycle }) => {
  await app.register(healthRoutes, { lifecycle })
  await app.register(userRoutes)
  await app.register(loginRoutes)
  await app.register(accountRecoveryRoutes)
  await app.register(jwksRoutes)
  await app.register(introspectionRoutes)
  await app.register(metricsRoutes)
  if (app.config.consoleEnabled) await app.register(consoleRoutes)

  await app.register(async (authenticated) => {
    authenticated.addHook('onRequest', authenticated.authenticate)
    // Routes behind the session check say so in the OpenAPI document.
    authenticated.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, security: [{ sessionToken: [] }] }
    })
    await authenticated.register(meRoutes)
    await authenticated.register(sessionRoutes)

    await authenticated.register(async (admin) => {
      admin.addHook('onRequest', adminOnly)
      await admin.register(adminRoutes)
      await admin.register(settingsRoutes)
      await admin.register(activityRoutes)
    })
  })
}
