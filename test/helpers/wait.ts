// Waiting in tests: poll for a condition with eventually(); sleep() only where the test is about
// time passing (a TTL counting down, an idle period, requests spread out on purpose).

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Retries `check` until it holds, for at most `ms` (`intervalMs` apart): for what happens in the
 * background (recovery, a subscription, an event, a server starting). Returns whether it held, for
 * the test to assert, or to leave to the assertion that follows.
 */
export async function eventually (ms: number, check: () => boolean | Promise<boolean>, { intervalMs = 100 } = {}): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(intervalMs)
  }
  return false
}
