/**
 * Redis (or the JWKS, or Gatehouse's introspection endpoint) did not answer: whether the session
 * is live is unknown, and it is never taken as live. The middleware answers 503.
 */
export class ReaderUnavailableError extends Error {
  constructor (readonly dependency: 'redis' | 'jwks' | 'gatehouse', cause: unknown) {
    super(`session reader: ${dependency} is unavailable${cause instanceof Error ? ` (${cause.message})` : ''}`, { cause })
    this.name = 'ReaderUnavailableError'
  }
}
