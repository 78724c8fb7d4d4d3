import { existsSync } from 'node:fs'
import { type Browser, chromium, type Locator, type Page } from 'playwright-core'
import type { Test } from 'tap'

/** Debian's chromium (.ci/run installs it); CHROMIUM_PATH for another. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Headless Chromium, closed at teardown. As root it needs --no-sandbox; the networking flags keep
 * it from calling Google's hosts, which this machine's closed network refuses (and which a test
 * has no business with). Playwright runs it headless with a fresh, temporary profile each time:
 * nothing carries over between tests.
 */
export async function launchBrowser (t: Test): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    timeout: 60_000,
  })
  t.teardown(() => browser.close())
  return browser
}

/**
 * Every page error and every Content-Security-Policy complaint a page makes, for a test to check
 * that there were none: the console must run under its CSP as it is, with nothing blocked.
 */
export function pageProblems (page: Page): string[] {
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('console', (message) => {
    const text = message.text()
    // A refused request (the 401 before signing in, a 403 a test provokes) is logged by Chromium; it is not a fault of the page.
    if (/Failed to load resource/.test(text)) return
    if (message.type() === 'error' || /Content.Security.Policy/i.test(text)) problems.push(`console ${message.type()}: ${text}`)
  })
  return problems
}

/**
 * Waits until `locator` matches a number of elements `wanted` accepts. (page.waitForFunction
 * would evaluate its predicate in the page, which the console's CSP refuses, as it should.)
 */
export async function waitForCount (locator: Locator, wanted: (count: number) => boolean, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const count = await locator.count()
    if (wanted(count)) return count
    if (Date.now() > deadline) throw new Error(`${locator} matched ${count} elements for ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
