import { request } from 'node:http'

/** One server-sent event as the browser's EventSource would hand it over. */
export interface SseMessage {
  id?: string
  event: string
  data: string
}

export interface OpenStream {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** Everything received so far, as it came (comments and `retry:` included). */
  raw(): string
  messages: SseMessage[]
  /** Resolves with the first message (from the start) that `match` accepts; rejects after `timeoutMs`. */
  waitFor(match: (message: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>
  /** Resolves when the server ends the stream. */
  ended: Promise<void>
  close(): void
}

/** GET `url` as an EventSource would (Accept: text/event-stream), over real HTTP, parsing the stream. */
export function openEventStream (url: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      let text = ''
      let buffer = ''
      const messages: SseMessage[] = []
      const waiters = new Set<() => void>()
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const message: SseMessage = { event: 'message', data: '' }
          let hasData = false
          for (const line of block.split('\n')) {
            const at = line.indexOf(': ')
            const [field, value] = at === -1 ? [line.replace(/:$/, ''), ''] : [line.slice(0, at), line.slice(at + 2)]
            if (field === 'id') message.id = value
            else if (field === 'event') message.event = value
            else if (field === 'data') {
              message.data += value
              hasData = true
            }
          }
          if (hasData) messages.push(message)
        }
        for (const wake of waiters) wake()
      })
      const ended = new Promise<void>((resolve) => res.on('close', resolve))
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        raw: () => text,
        messages,
        ended,
        close: () => req.destroy(),
        waitFor (match, timeoutMs = 10_000) {
          return new Promise((resolve, reject) => {
            const check = () => {
              const found = messages.find(match)
              if (!found) return
              cleanup()
              resolve(found)
            }
            const timer = setTimeout(() => {
              cleanup()
              reject(new Error(`no matching event within ${timeoutMs} ms; received: ${text.slice(-2000)}`))
            }, timeoutMs)
            const cleanup = () => {
              clearTimeout(timer)
              waiters.delete(check)
            }
            waiters.add(check)
            check()
          })
        },
      })
    })
    req.on('error', reject)
    req.end()
  })
}
