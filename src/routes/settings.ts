import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import type { FastifyRequest } from 'fastify'
import { requireAuth } from '../plugins/authenticate.js'
import { errors } from '../shared/errors.js'
import { errorBody } from '../schemas/common.js'
import { sessionTtlBody, sessionTtlResponse } from '../schemas/settings.js'
import { type TtlChange, type TtlState, TtlValueError } from '../sessions/session-ttl.js'

/** Admin-only (routes/index.ts): the session TTL in force on every instance (the CLI's `gatehouse ttl`, over HTTP). */
export const settingsRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { sessionTtl: ttl, users } = app
  const schema = { response: { 200: sessionTtlResponse, '4xx': errorBody } }

  /** Who made a change, as the config hash and the logs record it. */
  async function adminName (request: FastifyRequest): Promise<string> {
    const { userId } = requireAuth(request)
    const admin = await users.findById(userId)
    return `admin ${admin?.email ?? '(deleted)'} (${userId})`
  }
  function logged (request: FastifyRequest, by: string, { before, after }: TtlChange) {
    request.log.info({ by, oldTtlSeconds: before.seconds, newTtlSeconds: after.seconds, source: after.source }, 'session TTL changed')
    return ttlView(after)
  }

  app.get('/admin/settings/session-ttl', { schema }, async () => ttlView(await ttl.read()))

  app.put(
    '/admin/settings/session-ttl',
    { schema: { ...schema, body: sessionTtlBody } },
    async (request) => {
      const by = await adminName(request)
      try {
        return logged(request, by, await ttl.set(request.body.ttl_seconds, by))
      } catch (err) {
        if (err instanceof TtlValueError) throw errors.badRequest(err.message)
        throw err
      }
    }
  )

  app.delete('/admin/settings/session-ttl', { schema }, async (request) => {
    const by = await adminName(request)
    return logged(request, by, await ttl.reset(by))
  })
}

function ttlView (state: TtlState) {
  return {
    ttl_seconds: state.seconds,
    source: state.source,
    default_ttl_seconds: state.defaultSeconds,
    max_ttl_seconds: state.maxSeconds,
    set_by: state.setBy,
    set_at: state.setAt === null ? null : new Date(state.setAt).toISOString(),
  }
}
