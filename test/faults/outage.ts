import type { Test } from 'tap'

/** What every request that needs a missing dependency must get: 503, Retry-After, a stable code. */
export function expect503 (t: Test, res: { statusCode: number; headers: Record<string, unknown>; json(): { error: string } }, name: string): void {
  t.equal(res.statusCode, 503, `${name}: 503`)
  t.equal(res.headers['retry-after'], '5', `${name}: Retry-After`)
  t.equal(res.json().error, 'service_unavailable', `${name}: service_unavailable`)
}
