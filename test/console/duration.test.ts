import t from 'tap'
import { durationInput, formatDuration, parseDuration, relativeTime } from '../../console/src/duration.js'

// What the console reads from its duration fields and writes for durations and moments: plain
// functions, checked here in Node; the browser test sees them in the page.

t.test('durations are read as the CLI reads them; anything else is null', async (t) => {
  for (const [text, seconds] of [['900', 900], ['90s', 90], ['15m', 900], ['2h', 7200], ['1d', 86400], [' 20m ', 1200], ['0', 0], ['999999999', 999999999]] as const) {
    t.equal(parseDuration(text), seconds, text)
  }
  for (const text of ['', 'an hour', '15 m', '1.5h', '-5', '15M', '2w', '1h30m', '1234567890']) t.equal(parseDuration(text), null, JSON.stringify(text))
})

t.test('durations are written in their units, and typed back in the shortest form', async (t) => {
  t.equal(formatDuration(1200), '20 min')
  t.equal(formatDuration(90), '1 min 30 s')
  t.equal(formatDuration(2592000), '30 d')
  t.equal(formatDuration(0), '0 s')
  t.equal(durationInput(1200), '20m')
  t.equal(durationInput(7200), '2h')
  t.equal(durationInput(2592000), '30d')
  t.equal(durationInput(90), '90s')
  for (const seconds of [1, 59, 60, 61, 3600, 86399, 86400, 2592000]) t.equal(parseDuration(durationInput(seconds)), seconds, `${seconds} round-trips`)
})

t.test('moments are said relative to now, in their largest whole unit', async (t) => {
  const now = Date.parse('2026-12-07T12:00:00Z')
  const at = (offsetSeconds: number) => new Date(now + offsetSeconds * 1000).toISOString()
  t.equal(relativeTime(at(0), now), 'just now')
  t.equal(relativeTime(at(-59), now), 'just now')
  t.equal(relativeTime(at(-120), now), '2 min ago')
  t.equal(relativeTime(at(300), now), 'in 5 min')
  t.equal(relativeTime(at(30), now), 'in under a minute')
  t.equal(relativeTime(at(-3 * 3600 - 1800), now), '3 h ago')
  t.equal(relativeTime(at(-2 * 86400), now), '2 d ago')
  t.equal(relativeTime(at(45 * 86400), now), 'in 45 d')
  t.equal(relativeTime('not a date', now), 'not a date', 'what is not a moment is shown as it came')
})
