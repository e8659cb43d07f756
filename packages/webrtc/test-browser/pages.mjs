/**
 * Playwright helpers shared by the browser suite and the benchmark: open the harness in a fresh browser
 * context, link two pages with a raw RTCDataChannel (SDP relayed by this process), relay bare peer-transport signals.
 *
 * @module
 */
import { contextOptions } from '../../../scripts/chromium.mjs'

/**
 * Opens the harness page (served at `baseUrl`) in a new browser context of `browser`.
 * @param {import('playwright-core').Browser} browser
 * @param {string} baseUrl
 * @returns {Promise<import('playwright-core').Page>}
 */
export async function openHarness(browser, baseUrl) {
  const context = await browser.newContext(contextOptions)
  const page = await context.newPage()
  await page.goto(new URL('/index.html', baseUrl).href)
  await page.waitForFunction(() => window.harness !== undefined)
  return page
}

/**
 * Links `a` (driver) and `b` (sink) with one raw ordered RTCDataChannel named `name`; resolves when open.
 * @param {import('playwright-core').Page} a
 * @param {import('playwright-core').Page} b
 * @param {string} name
 */
export async function connectRaw(a, b, name) {
  const offer = await a.evaluate((n) => window.harness.raw.offer(n), name)
  const answer = await b.evaluate(
    ([n, o]) => window.harness.raw.answer(n, o),
    /** @type {const} */ ([name, offer]),
  )
  await a.evaluate(([n, ans]) => window.harness.raw.accept(n, ans), /** @type {const} */ ([name, answer]))
  await Promise.all([
    a.evaluate((n) => window.harness.raw.open(n, 'driver'), name),
    b.evaluate((n) => window.harness.raw.open(n, 'sink'), name),
  ])
}

/**
 * A bare handshake of skipmesh's peer transport between `a` (initiator) and `b`, signals relayed through this process;
 * `a` sends one message on connect. Resolves with milliseconds from `a` creating its peer to `b` receiving
 * that message (both clocks are `performance.timeOrigin + now()` of one machine).
 * @param {import('playwright-core').Page} a
 * @param {import('playwright-core').Page} b
 * @param {string} name unique per call
 */
export async function bareTransportHandshake(a, b, name) {
  /** @param {import('playwright-core').Page} to */
  const relayTo =
    (to) => (/** @type {unknown} */ _source, /** @type {string} */ n, /** @type {unknown} */ data) =>
      to.evaluate(([n2, d]) => window.harness.raw.peerSignal(n2, d), /** @type {const} */ ([n, data]))
  await installRelay(a, relayTo(b))
  await installRelay(b, relayTo(a))
  await b.evaluate((n) => window.harness.raw.peerStart(n, false), name)
  const firstMessage = b.evaluate((n) => window.harness.raw.peerFirstMessage(n), name)
  const t0 = await a.evaluate((n) => window.harness.raw.peerStart(n, true), name)
  await a.evaluate((n) => window.harness.raw.peerSendFirst(n), name)
  const t1 = await firstMessage
  await Promise.all([
    a.evaluate((n) => window.harness.raw.peerClose(n), name),
    b.evaluate((n) => window.harness.raw.peerClose(n), name),
  ])
  return t1 - t0
}

const relays = new WeakMap()

/**
 * Exposes `window.relaySignal` once per page; later calls swap the handler.
 * @param {import('playwright-core').Page} page
 * @param {(source: unknown, name: string, data: unknown) => Promise<void>} handler
 */
async function installRelay(page, handler) {
  const installed = relays.get(page)
  relays.set(page, handler)
  if (installed !== undefined) return
  await page.exposeBinding('relaySignal', (source, name, data) => relays.get(page)(source, name, data))
}
