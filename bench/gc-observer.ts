import { renameSync, writeFileSync } from 'node:fs'
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks'
import { isMainThread } from 'node:worker_threads'

/**
 * Loaded into a server by `npm run bench:container` (NODE_OPTIONS=--import, which accepts this
 * and not --trace-gc): counts the main thread's garbage collections and the time they held it,
 * and writes the running totals to GC_OBSERVER_FILE twice a second, as JSON, for the bench to
 * read before and after each round. Nothing else: it changes no behaviour of the server.
 */
const file = process.env.GC_OBSERVER_FILE
if (isMainThread && file) {
  const totals = { scavenges: 0, markCompacts: 0, pauseMs: 0 }
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) totals.scavenges++
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) totals.markCompacts++
      totals.pauseMs += entry.duration
    }
  }).observe({ entryTypes: ['gc'] })
  // Whole or not at all (a new file renamed over the old): the bench may read it at any moment.
  const write = () => {
    writeFileSync(`${file}.next`, JSON.stringify(totals))
    renameSync(`${file}.next`, file)
  }
  write()
  setInterval(write, 500).unref()
}
