import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from '@playwright/test'
import { contextOptions } from '../../scripts/chromium.mjs'
import { type ConsumerApp, expect, type RunResult, startSignal, test } from './fixtures.js'

declare global {
  interface Window {
    /** Set by the app's main.js once its node has joined. */
    consumer?: { id: string; search(hex: string): Promise<{ result: string; found: boolean }> }
  }
}

/**
 * Each bundler run as its documented zero-configuration command line, in the app's directory; resolves to the
 * directory to serve. A bundler that fails, or warns (a warning is how a bundler says it needs configuration:
 * a Node built-in externalized, a global left undefined), fails the test.
 */
const bundlers: Record<string, (app: ConsumerApp) => Promise<string>> = {
  async vite(app) {
    const out = join(app.dir, 'dist-vite')
    expectClean('vite build', await app.bin('vite', ['build', '--outDir', out]))
    return out
  },
  async esbuild(app) {
    const out = join(app.dir, 'dist-esbuild')
    const args = ['main.js', '--bundle', '--format=esm', '--minify', `--outdir=${out}`, '--log-level=warning']
    expectClean('esbuild', await app.bin('esbuild', args))
    copyFileSync(join(app.dir, 'index.html'), join(out, 'index.html'))
    return out
  },
}

function expectClean(what: string, res: RunResult): void {
  expect(res.code, `${what} exit code\n${res.stdout}\n${res.stderr}`).toBe(0)
  expect(res.stderr.trim(), `${what} printed warnings or errors`).toBe('')
}

/** A page in its own browser context; `failed` rejects on the first console error or uncaught exception. */
interface Tab {
  page: Page
  errors: string[]
  failed: Promise<never>
}

async function openTab(browser: Browser, url: string): Promise<Tab> {
  const context = await browser.newContext({ ...contextOptions })
  const page = await context.newPage()
  const errors: string[] = []
  let fail: (err: Error) => void = () => {}
  const failed = new Promise<never>((_, reject) => {
    fail = reject
  })
  failed.catch(() => {})
  const record = (text: string): void => {
    errors.push(text)
    fail(new Error(`the page logged an error: ${text}`))
  }
  page.on('console', (msg) => {
    if (msg.type() === 'error') record(msg.text())
  })
  page.on('pageerror', (err) => record(`${err.name}: ${err.message}`))
  await page.goto(url)
  return { page, errors, failed }
}

/** The id of the tab's node once it has joined, or the tab's first error. */
async function joined(tab: Tab): Promise<string> {
  const handle = await Promise.race([
    tab.page.waitForFunction(() => window.consumer?.id, undefined, { timeout: 45_000 }),
    tab.failed,
  ])
  return (await handle.jsonValue()) as string
}

for (const [name, bundle] of Object.entries(bundlers)) {
  test(`a ${name} build with no configuration runs two nodes in two browser contexts that join one skip graph and find each other`, async ({
    browser,
    consumerApp,
  }) => {
    const staticDir = await bundle(consumerApp)
    const server = await startSignal(consumerApp, staticDir)
    try {
      const room = `consumer-${name}-${Date.now().toString(36)}`
      const first = await openTab(browser, `${server.url}/?room=${room}`)
      const firstId = await joined(first)
      const second = await openTab(browser, `${server.url}/?room=${room}&introducer=${firstId}`)
      const secondId = await joined(second)
      expect(secondId).not.toBe(firstId)

      const search = (tab: Tab, target: string) =>
        Promise.race([tab.page.evaluate((hex) => window.consumer!.search(hex), target), tab.failed])
      expect(await search(second, firstId)).toEqual({ result: firstId, found: true })
      expect(await search(first, secondId)).toEqual({ result: secondId, found: true })
      expect([...first.errors, ...second.errors]).toEqual([])
      await Promise.all([first.page.context().close(), second.page.context().close()])
    } finally {
      await server.stop()
    }
  })
}
