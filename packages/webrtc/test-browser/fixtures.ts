import { randomUUID } from 'node:crypto'
import { test as base, type Page } from '@playwright/test'
import { openHarness } from './pages.mjs'

export { expect } from '@playwright/test'

interface Fixtures {
  /** The signaling server (and harness page) URL started by the global setup. */
  signalUrl: string
  /** A fresh signaling room for this test. */
  room: string
  /** Opens the harness in a new browser context (one context per peer). */
  openPeer: () => Promise<Page>
}

/**
 * The suite's `test`: every peer gets its own browser context; an uncaught error in any page fails the test
 * (unless the test closed that page on purpose).
 */
export const test = base.extend<Fixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: Playwright fixtures take their dependencies by destructuring
  signalUrl: async ({}, use) => {
    const url = process.env.SKIPMESH_SIGNAL_URL
    if (url === undefined) throw new Error('SKIPMESH_SIGNAL_URL is unset: the global setup did not run')
    await use(url)
  },
  // biome-ignore lint/correctness/noEmptyPattern: Playwright fixtures take their dependencies by destructuring
  room: async ({}, use) => {
    await use(`pw-${randomUUID().slice(0, 12)}`)
  },
  openPeer: async ({ browser, signalUrl }, use, testInfo) => {
    const pages: Page[] = []
    const errors: string[] = []
    await use(async () => {
      const page = await openHarness(browser, signalUrl)
      const label = `peer${pages.length}`
      page.on('pageerror', (err) => {
        if (!page.isClosed()) errors.push(`${label}: ${err.name}: ${err.message}`)
      })
      page.on('console', (msg) => {
        if (msg.type() === 'error') void testInfo.attach(`${label} console error`, { body: msg.text() })
      })
      pages.push(page)
      return page
    })
    await Promise.all(pages.map((p) => p.context().close()))
    if (errors.length > 0) throw new Error(`uncaught errors in pages:\n${errors.join('\n')}`)
  },
})
