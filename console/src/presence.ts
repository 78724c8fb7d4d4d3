/**
 * After this long without a key press or click, the console stops asking for anything: an
 * unattended console must not keep its session alive (every API call extends it, as any client's
 * does), so the session runs out after its TTL like any other.
 */
export const IDLE_MS = 10 * 60_000

let lastInput = Date.now()
const onResume = new Set<() => void>()
const onPause = new Set<(why: string) => void>()

/** Someone is looking: the tab is visible and was used lately. */
export const present = () => document.visibilityState === 'visible' && Date.now() - lastInput < IDLE_MS

/** Called when someone is back (the tab shown again, or a click after a pause), and when they leave, with why. Returns a stop. */
export function watchPresence (resume: () => void, pause: (why: string) => void): () => void {
  onResume.add(resume)
  onPause.add(pause)
  return () => {
    onResume.delete(resume)
    onPause.delete(pause)
  }
}

let paused = false
const goAway = (why: string) => {
  paused = true
  for (const pause of onPause) pause(why)
}
const comeBack = () => {
  paused = false
  for (const resume of onResume) resume()
}
document.addEventListener('visibilitychange', () => {
  // Shown again after nobody used it for a while (a tab switch, a screen unlock) is not someone
  // back: a click or a key press is.
  if (document.visibilityState === 'visible') {
    if (present()) comeBack()
  } else {
    goAway('Paused while this tab is hidden.')
  }
})
for (const type of ['pointerdown', 'keydown'] as const) {
  document.addEventListener(type, () => {
    const wasIdle = Date.now() - lastInput >= IDLE_MS
    lastInput = Date.now()
    if (wasIdle || (paused && present())) comeBack()
  }, { capture: true })
}
setInterval(() => {
  if (!paused && !present()) goAway('Paused: nobody has used the console for 10 minutes. Click or press a key to resume.')
}, 30_000)
