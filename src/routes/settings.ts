import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts'
import type { FastifyRequest } from 'fastify'
import type { SchemaErrorFormatter } from 'fastify/types/schema.js'
import { requireAuth } from '../plugins/authenticate.js'
import { errors } from '../shared/errors.js'
import { clientEnded, clientParams, clientPolicy, clientPolicyBody, sessionTtlBody, sessionTtlResponse } from '../schemas/settings.js'
import { type ClientPolicy, formatTtl, type TtlChange, type TtlState, TtlValueError } from '../sessions/session-ttl.js'

/**
 * Admin-only (routes/index.ts): the session TTL in force on every instance, and each client's own
 * policy (the CLI's `gatehouse ttl` and `sessions revoke --client`, over HTTP).
 */
export const settingsRoutes: FastifyPluginAsyncJsonSchemaToTs = async (app) => {
  const { sessionTtl: ttl, users } = app
  const schema = { response: { 200: sessionTtlResponse } }

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
  /** A value the API refuses (out of range, too many clients) is the caller's mistake: 400 with its reason. */
  async function refusingBadValues<T> (change: () => Promise<T>): Promise<T> {
    try {
      return await change()
    } catch (err) {
      if (err instanceof TtlValueError) throw errors.badRequest(err.message)
      throw err
    }
  }

  /**
   * A value past SESSION_MAX_AGE_SECONDS is refused by the schema (whose `maximum` the document
   * states), in the words the CLI uses for it; any other refusal as Fastify words it.
   */
  const lifetime = formatTtl(app.config.sessionMaxAgeSeconds)
  const pastTheLifetime: SchemaErrorFormatter = (refusals, dataVar) => new Error(refusals.map((refusal) =>
    `${dataVar}${refusal.instancePath} ${refusal.keyword === 'maximum' ? `must not exceed the absolute session lifetime, SESSION_MAX_AGE_SECONDS (${lifetime})` : refusal.message}`).join(', '))

  app.get('/admin/settings/session-ttl', { schema: { ...schema, operationId: 'getSessionTtl', summary: 'The session TTL in force, and each client policy' } }, async () => ttlView(await ttl.read()))

  app.put(
    '/admin/settings/session-ttl',
    { schema: { ...schema, operationId: 'setSessionTtl', summary: 'Set the session TTL on every instance', body: sessionTtlBody(app.config.sessionMaxAgeSeconds) }, schemaErrorFormatter: pastTheLifetime },
    async (request) => {
      const by = await adminName(request)
      return logged(request, by, await refusingBadValues(() => ttl.set(request.body.ttl_seconds, by)))
    }
  )

  app.delete('/admin/settings/session-ttl', { schema: { ...schema, operationId: 'resetSessionTtl', summary: 'Go back to the SESSION_TTL_SECONDS of the environment' } }, async (request) => {
    const by = await adminName(request)
    return logged(request, by, await ttl.reset(by))
  })

  const clientSchema = { params: clientParams, response: { 200: clientPolicy } }

  /** The change as the logs show it, and the client's policy after it (nulls: the global one). */
  function clientChanged (request: FastifyRequest, by: string, client: string, { before, after }: TtlChange) {
    const [old, now] = [policyOf(before, client), policyOf(after, client)]
    request.log.info({ by, client, oldIdleSeconds: old.ttlSeconds, newIdleSeconds: now.ttlSeconds, oldMaxAgeSeconds: old.maxAgeSeconds, newMaxAgeSeconds: now.maxAgeSeconds }, 'client policy changed')
    return clientView(now)
  }

  app.put(
    '/admin/settings/clients/:client',
    { schema: { ...clientSchema, operationId: 'setClientPolicy', summary: 'Set the idle window and maximum age of one client', body: clientPolicyBody(app.config.sessionMaxAgeSeconds) }, schemaErrorFormatter: pastTheLifetime },
    async (request) => {
      const { client } = request.params
      const { idle_timeout_seconds: idle, max_age_seconds: maxAge = null } = request.body
      const by = await adminName(request)
      return clientChanged(request, by, client, await refusingBadValues(() => ttl.setClient(client, idle, maxAge, by)))
    }
  )

  app.delete('/admin/settings/clients/:client', { schema: { ...clientSchema, operationId: 'resetClientPolicy', summary: 'The client goes back to the global policy' } }, async (request) => {
    const { client } = request.params
    const by = await adminName(request)
    return clientChanged(request, by, client, await refusingBadValues(() => ttl.resetClient(client, by)))
  })

  // One write, however many sessions the client has: they are refused from this instant on, and
  // their keys expire on their own (docs/ops.md, "Client policies").
  app.delete(
    '/admin/clients/:client/sessions',
    { schema: { operationId: 'endClientSessions', summary: 'End every session of one client', params: clientParams, response: { 200: clientEnded } } },
    async (request) => {
      const { client } = request.params
      const by = await adminName(request)
      const at = await refusingBadValues(() => ttl.endClient(client, by))
      request.log.info({ by, client, endedBefore: at }, 'admin ended every session of a client')
      return { ended_before: isoOf(at) }
    }
  )
}

/** A client without an entry has no policy of its own: every value is the global one. */
function policyOf (state: TtlState, client: string): ClientPolicy {
  return state.clients.find((policy) => policy.client === client) ?? { client, ttlSeconds: null, maxAgeSeconds: null, endedBefore: null, setBy: null, setAt: null }
}

/**
 * Unix ms as an RFC 3339 date-time. An instant written by hand may lie past year 9999, or past
 * what a Date holds (an ending that is not a time reads as "forever", which ends every session):
 * shown as the latest instant RFC 3339 can write, 9999-12-31T23:59:59.999Z.
 */
const LATEST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
const isoOf = (ms: number) => new Date(Math.min(ms, LATEST_MS)).toISOString()
const isoOrNull = (ms: number | null) => (ms === null || !Number.isFinite(ms) ? null : isoOf(ms))

function clientView (policy: ClientPolicy) {
  return {
    client: policy.client,
    idle_timeout_seconds: policy.ttlSeconds,
    max_age_seconds: policy.maxAgeSeconds,
    ended_before: isoOrNull(policy.endedBefore),
    set_by: policy.setBy,
    set_at: isoOrNull(policy.setAt),
  }
}

function ttlView (state: TtlState) {
  return {
    ttl_seconds: state.seconds,
    source: state.source,
    default_ttl_seconds: state.defaultSeconds,
    max_ttl_seconds: state.maxSeconds,
    set_by: state.setBy,
    set_at: isoOrNull(state.setAt),
    clients: state.clients.map(clientView),
  }
}
