/**
 * A JSON answer from Gatehouse (its JWKS, its introspection), bounded every way: one deadline for
 * the whole exchange, the body included; no redirect followed; at most `maxBytes` read. Throws on
 * any failure, a status `accept` refuses included.
 */
export async function fetchJson (
  url: URL | string,
  init: RequestInit,
  { timeoutMs, maxBytes, accept }: { timeoutMs: number, maxBytes: number, accept: (status: number) => boolean }
): Promise<{ body: unknown, headers: Headers }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' })
  if (!accept(response.status)) throw new Error(`${init.method ?? 'GET'} ${String(url)} answered ${response.status}`)
  return { body: JSON.parse(await boundedText(response, maxBytes)), headers: response.headers }
}

/** The body as text; throws past `maxBytes` (reading it as it comes, never more). */
async function boundedText (response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > maxBytes) throw new Error(`the answer is larger than ${maxBytes} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
