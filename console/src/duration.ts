/**
 * Durations and moments as people type and read them. The console reads durations as the CLI does
 * (src/sessions/session-ttl.ts, parseTtl), so `15m` means the same in both; the range is the API's
 * to check (and to say), not the console's. No DOM here: test/console/duration.test.ts runs it in Node.
 */
const DURATION = /^(\d{1,9})([smhd]?)$/
const UNIT: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }

/** "900", "90s", "15m", "2h", "30d" → seconds; null for anything else. */
export function parseDuration (text: string): number | null {
  const match = DURATION.exec(text.trim())
  return match ? Number(match[1]) * (UNIT[match[2] ?? ''] ?? 1) : null
}

/** 1200 → "20 min", 90 → "1 min 30 s", 7200 → "2 h", 2592000 → "30 d". */
export function formatDuration (seconds: number): string {
  const parts: string[] = []
  const days = Math.floor(seconds / 86400)
  const hours = Math.floor((seconds % 86400) / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  const rest = seconds % 60
  if (days) parts.push(`${days} d`)
  if (hours) parts.push(`${hours} h`)
  if (minutes) parts.push(`${minutes} min`)
  if (rest || parts.length === 0) parts.push(`${rest} s`)
  return parts.join(' ')
}

/** 1200 → "20m", 7200 → "2h", 90 → "90s": the shortest way to type it back (the CLI's units). */
export function durationInput (seconds: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`
  }
  return `${seconds}s`
}

/** "just now", "2 min ago", "in 5 min", "3 h ago", "2 d ago": how far a moment is from `now`, in its largest whole unit. */
export function relativeTime (iso: string, now = Date.now()): string {
  const ms = new Date(iso).getTime()
  if (Number.isNaN(ms)) return iso
  const seconds = Math.abs(ms - now) / 1000
  const future = ms > now
  if (seconds < 60) return future ? 'in under a minute' : 'just now'
  const span = seconds < 3600 ? `${Math.floor(seconds / 60)} min` : seconds < 86400 ? `${Math.floor(seconds / 3600)} h` : `${Math.floor(seconds / 86400)} d`
  return future ? `in ${span}` : `${span} ago`
}
