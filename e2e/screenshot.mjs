#!/usr/bin/env node
// Takes docs/screenshots/demo.png: serves the built demo (apps/demo/serve.mjs on a free port), opens four
// browser contexts (4 + 2 + 2 + 2 nodes) in headless Chromium, waits until the first tab draws all of them,
// runs a search with several hops from the first tab and screenshots it once the route is drawn.
// Usage (after `npm run build`): node e2e/screenshot.mjs [out.png]
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from '@playwright/test'
import { contextOptions, launchOptions } from '../scripts/chromium.mjs'

const out = process.argv[2] ?? fileURLToPath(new URL('../docs/screenshots/demo.png', import.meta.url))

const port = await new Promise((resolve, reject) => {
  const srv = createServer()
  srv.once('error', reject)
  srv.listen(0, '127.0.0.1', () => {
    const { port } = srv.address()
    srv.close(() => resolve(port))
  })
})
const server = spawn(process.execPath, [fileURLToPath(new URL('../apps/demo/serve.mjs', import.meta.url))], {
  env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' },
  stdio: ['ignore', 'pipe', 'inherit'],
})
await new Promise((resolve, reject) => {
  server.stdout.on('data', (d) => {
    if (String(d).includes('http://')) resolve()
  })
  server.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
})

const browser = await chromium.launch(launchOptions())
try {
  const room = `screenshot-${Date.now()}`
  const perTab = [4, 2, 2, 2]
  const pages = []
  for (const nodes of perTab) {
    const context = await browser.newContext({
      ...contextOptions,
      viewport: { width: 1480, height: 900 },
      deviceScaleFactor: 1,
    })
    const page = await context.newPage()
    page.on('console', (msg) => {
      if (msg.type() === 'error') console.error(`console error: ${msg.text()}`)
    })
    await page.goto(`http://127.0.0.1:${port}/?nodes=${nodes}&room=${room}`)
    pages.push(page)
  }
  await Promise.all(pages.map((p) => p.evaluate(() => window.skipmesh.ready())))
  const total = perTab.reduce((a, b) => a + b, 0)
  const first = pages[0]
  await first.waitForFunction(async (n) => (await window.skipmesh.refresh()).nodes.length === n, total, {
    polling: 500,
    timeout: 60_000,
  })
  // the longest route from one of this tab's nodes to another tab's node
  const best = await first.evaluate(async () => {
    const mine = window.skipmesh.nodes().map((n) => n.id)
    const others = window.skipmesh
      .graph()
      .nodes.filter((n) => !n.local)
      .map((n) => n.id)
    let pick = { from: mine[0], target: others[0], hops: -1 }
    for (const from of mine) {
      for (const target of others) {
        const t = await window.skipmesh.search(from, target, { show: false })
        if (t.error === null && t.hops.length > pick.hops) pick = { from, target, hops: t.hops.length }
      }
    }
    return pick
  })
  // a few searches for the history, then the one on screen
  await first.evaluate(async (b) => {
    const ids = window.skipmesh.graph().nodes.map((n) => n.id)
    await window.skipmesh.search(b.from, ids[Math.floor(ids.length / 2)])
    await window.skipmesh.search(b.from, 'ffff'.repeat(16).slice(0, 63) + '0')
    return window.skipmesh.search(b.from, b.target)
  }, best)
  await first.waitForFunction(() => document.querySelector('#route')?.getAttribute('data-state') === 'done')
  mkdirSync(dirname(out), { recursive: true })
  await first.screenshot({ path: out })
  console.log(`wrote ${out} (${total} nodes, route of ${best.hops} hops)`)
} finally {
  await browser.close()
  server.kill('SIGTERM')
}
