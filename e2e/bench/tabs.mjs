/**
 * What the Chromium benchmarks share: opening a demo tab in a browser context of its own (RTCPeerConnections
 * counted from before any page script, page errors collected), and reading the tabs' nodes: how many joined, their
 * open connections and table neighbours. Nothing here runs on import.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { createJsonLogger, createSignalingServer } from '@skipmesh/signaling-server'
import { quantile } from '../../packages/webrtc/bench/measure.mjs'
import { contextOptions } from '../../scripts/chromium.mjs'

const counterScript = fileURLToPath(new URL('../count-peer-connections.js', import.meta.url))

/** Rounds `x` to `d` decimals (`null` when not finite, so that JSON keeps it). */
export const round = (x, d = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null)

/**
 * Opens `url` in a new browser context of `browser` (a profile of its own: one renderer per tab). Every
 * RTCPeerConnection the page constructs is counted in `window.__peerConnections`; page errors and console errors
 * are pushed to `errors`. Resolves once the page has loaded.
 */
export async function openTab(browser, url, errors) {
  const context = await browser.newContext({ ...contextOptions, viewport: { width: 1400, height: 900 } })
  await context.addInitScript({ path: counterScript })
  const page = await context.newPage()
  page.on('pageerror', (e) => errors.push(`${e.name}: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text())
  })
  await page.goto(url)
  return { context, page }
}

/** Joined nodes of every tab, summed (a tab that cannot answer counts 0). */
export async function joinedCount(pages) {
  const counts = await Promise.all(
    pages.map((p) =>
      p.evaluate(() => window.skipmesh?.nodes().filter((n) => n.joined).length ?? 0).catch(() => 0),
    ),
  )
  return counts.reduce((s, c) => s + c, 0)
}

/** RTCPeerConnections each page constructed so far (`null` for a page that cannot answer). */
export function peerConnectionsConstructed(pages) {
  return Promise.all(
    pages.map((p) => p.evaluate(() => window.__peerConnections.constructed).catch(() => null)),
  )
}

/** Mean, p99 and max of `xs`. */
export function spread(xs) {
  return {
    mean: round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)),
    p99: round(quantile(xs, 0.99)),
    max: xs.length === 0 ? null : Math.max(...xs),
  }
}

/** Every node's open connections and distinct table neighbours now, and the budgets' prunes, over all tabs. */
export async function connectionsNow(pages) {
  const nodes = (
    await Promise.all(
      pages.map((p) =>
        p
          .evaluate(() =>
            window.skipmesh.nodes().map((n) => {
              const neighbours = new Set()
              for (const l of n.table.levels) {
                if (l.left !== null) neighbours.add(l.left)
                if (l.right !== null) neighbours.add(l.right)
              }
              return {
                connections: n.connections.length,
                neighbours: neighbours.size,
                pruned: n.budget?.pruned ?? 0,
                overBudget: n.budget?.overBudget ?? 0,
              }
            }),
          )
          .catch(() => []),
      ),
    )
  ).flat()
  return {
    connections: spread(nodes.map((n) => n.connections)),
    neighbours: spread(nodes.map((n) => n.neighbours)),
    pruned: nodes.reduce((s, n) => s + n.pruned, 0),
    overBudget: nodes.reduce((s, n) => s + n.overBudget, 0),
  }
}

/**
 * `count` searches in each tab, the tabs at once and each tab's one after another, from a random joined node of
 * the tab to a random joined node of any tab. Resolves with every search: its wall-clock time (the demo's), its
 * hops, and whether it found its target.
 */
export async function searchFromTabs(pages, count) {
  const ids = (
    await Promise.all(
      pages.map((p) =>
        p.evaluate(() =>
          window.skipmesh
            .nodes()
            .filter((n) => n.joined)
            .map((n) => n.id),
        ),
      ),
    )
  ).flat()
  const traces = await Promise.all(
    pages.map((p) =>
      p.evaluate(
        async ({ ids, count }) => {
          const locals = window.skipmesh
            .nodes()
            .filter((n) => n.joined)
            .map((n) => n.id)
          const out = []
          for (let i = 0; i < count && locals.length > 0; i++) {
            const from = locals[Math.floor(Math.random() * locals.length)]
            const target = ids[Math.floor(Math.random() * ids.length)]
            const t = await window.skipmesh.search(from, target, { show: false })
            out.push({ ms: t.ms, hops: t.hops.length, ok: t.error === null && t.result === target })
          }
          return out
        },
        { ids, count },
      ),
    ),
  )
  return traces.flat()
}

/** Searches as the tables report them: how many, how many wrong, latency p50 / p99 and per hop, mean hops. */
export function searchFigures(traces) {
  const ms = traces.map((t) => t.ms)
  const perHop = traces.filter((t) => t.hops > 0).map((t) => t.ms / t.hops)
  return {
    count: traces.length,
    wrong: traces.filter((t) => !t.ok).length,
    p50Ms: round(quantile(ms, 0.5)),
    p99Ms: round(quantile(ms, 0.99)),
    meanHops: round(traces.reduce((s, t) => s + t.hops, 0) / Math.max(1, traces.length)),
    perHopP50Ms: round(quantile(perHop, 0.5)),
    perHopP99Ms: round(quantile(perHop, 0.99)),
  }
}

/**
 * What every benchmark script starts with: a watchdog that ends the process after `limitMs` (unref'd: it does not
 * keep it alive), and a log that prefixes the seconds since the start. Returns `{ log, done }`; `done()` disarms it.
 */
export function benchRun(limitMs) {
  const watchdog = setTimeout(() => {
    console.error(`bench: exceeded ${limitMs} ms, aborting`)
    process.exit(1)
  }, limitMs)
  watchdog.unref()
  const started = performance.now()
  return {
    log: (...args) => console.log(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s]`, ...args),
    done: () => clearTimeout(watchdog),
  }
}

/** A signaling server on loopback that also serves the demo build in `staticDir` (quiet but for errors). */
export function serveDemo(staticDir) {
  return createSignalingServer({
    port: 0,
    host: '127.0.0.1',
    staticDir,
    logger: createJsonLogger({ level: 'error' }),
  })
}

/** The load average now (1 / 5 / 15 min), rounded. */
export const loadNow = () => os.loadavg().map((x) => round(x))

/**
 * A report's header: when, on what machine and Chromium, the load average before (`loadBefore`) and now, then
 * `fields`, and the notes given in the environment variable `notesVar` (one per line).
 */
export function benchReport(browser, loadBefore, notesVar, fields) {
  return {
    at: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`,
    node: process.version,
    chromium: browser.version(),
    loadBefore,
    loadAfter: loadNow(),
    ...fields,
    notes: (process.env[notesVar] ?? '').split('\n').filter((l) => l !== ''),
  }
}

/** Writes `docs/benchmarks/<name>.json` (the report) and `<name>.md` (`markdown(report)`). */
export async function writeReport(name, data, markdown) {
  const outDir = fileURLToPath(new URL('../../docs/benchmarks', import.meta.url))
  await mkdir(outDir, { recursive: true })
  await writeFile(`${outDir}/${name}.json`, `${JSON.stringify(data, null, 2)}\n`)
  await writeFile(`${outDir}/${name}.md`, markdown(data))
}
