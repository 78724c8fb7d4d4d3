import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

// Every answer a test gets is checked against the OpenAPI document the app serves (/docs/json):
// its status must be declared for the operation, its media type too, its body must match that
// schema, and the headers the document calls required must be there. An answer the document does
// not describe is a failed assertion of the test that caused it (buildTestApp installs this).

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void
const DOC_ID = 'gatehouse-openapi.json'

interface MediaType { schema?: object }
interface Response { $ref?: string, headers?: Record<string, { $ref?: string, required?: boolean }>, content?: Record<string, MediaType> }
interface Document {
  paths: Record<string, Record<string, { responses: Record<string, Response> }>>
  components?: { headers?: Record<string, { required?: boolean }>, responses?: Record<string, Response> }
}

/** What a route outside the document (no route at all: 404, 405, a bad URL) answers: the error shape. */
const ERROR_SHAPE = {
  type: 'object',
  required: ['error', 'message'],
  additionalProperties: false,
  properties: { error: { type: 'string', pattern: '^[a-z_]+$' }, message: { type: 'string' } },
}

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')

export function responseChecker (app: FastifyInstance) {
  let doc: Document | undefined
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  const compiled = new Map<string, ValidateFunction>()
  const errorShape = ajv.compile(ERROR_SHAPE)
  /** `at`: where the response is in the document (an operation's, or a shared one in components.responses). */
  const validator = (at: string[], media: string) => {
    const ref = `${DOC_ID}#/${pointer(...at, 'content', media, 'schema')}`
    let validate = compiled.get(ref)
    if (!validate) {
      validate = ajv.getSchema(ref)
      if (!validate) throw new Error(`no schema at ${ref}`)
      compiled.set(ref, validate)
    }
    return validate
  }

  /** The problems with one answer, none if the document describes it. */
  return function problemsOf (request: FastifyRequest, reply: FastifyReply, payload: unknown): string[] {
    if (request.routeOptions.schema?.hide === true) return []
    if (!doc) {
      doc = app.swagger() as unknown as Document
      ajv.addSchema(doc as object, DOC_ID)
    }
    const problems: string[] = []
    const status = String(reply.statusCode)
    const media = String(reply.getHeader('content-type') ?? '').split(';')[0]!.trim()
    // Fastify sends no body with a 204 or a 304, whatever the handler passed on.
    const body = status === '204' || status === '304' ? '' : bodyOf(payload)
    const route = request.routeOptions.url
    if (route === undefined) {
      if (reply.getHeader('x-request-id') === undefined) problems.push('no X-Request-Id header')
      // No operation: 404, 405, a URL Fastify could not route. Still the one error shape.
      if (media !== 'application/json') problems.push(`media type ${media || '(none)'}, not application/json`)
      else if (body !== undefined && !errorShape(JSON.parse(body))) problems.push(`body ${body} is not the error shape`)
      return problems
    }
    const path = route.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
    const method = request.method.toLowerCase() === 'head' ? 'get' : request.method.toLowerCase()
    const operation = doc.paths[path]?.[method]
    if (!operation) return [`${method.toUpperCase()} ${path} is not in the document`]
    const key = operation.responses[status] ? status : operation.responses[`${status[0]}XX`] ? `${status[0]}XX` : 'default'
    let declared = operation.responses[key]
    if (!declared) return [`status ${status} is not declared (declared: ${Object.keys(operation.responses).join(', ')})`]
    let at = ['paths', path, method, 'responses', key]
    if (declared.$ref) {
      const name = declared.$ref.split('/').pop()!
      at = ['components', 'responses', name]
      declared = doc.components?.responses?.[name]
      if (!declared) return [`${at.join('/')} is not in the document`]
    }
    for (const [name, header] of Object.entries(declared.headers ?? {})) {
      const required = header.$ref ? doc.components?.headers?.[header.$ref.split('/').pop()!]?.required : header.required
      if (required && reply.getHeader(name.toLowerCase()) === undefined) problems.push(`no ${name} header`)
    }
    if (!declared.content) {
      if (body !== undefined && body !== '') problems.push(`a body where none is declared: ${body.slice(0, 200)}`)
      return problems
    }
    if (!(media in declared.content)) return [...problems, `media type ${media || '(none)'} is not declared (${Object.keys(declared.content).join(', ')})`]
    // A stream (server-sent events, a compressed answer) is checked by its media type only.
    if (body === undefined || media !== 'application/json' || reply.getHeader('content-encoding') !== undefined) return problems
    const validate = validator(at, media)
    if (!validate(JSON.parse(body))) problems.push(`body ${body.slice(0, 300)} does not match: ${ajv.errorsText(validate.errors)}`)
    return problems
  }
}

function bodyOf (payload: unknown): string | undefined {
  if (typeof payload === 'string') return payload
  if (Buffer.isBuffer(payload)) return payload.toString('utf8')
  if (payload === null || payload === undefined) return ''
  return undefined
}
