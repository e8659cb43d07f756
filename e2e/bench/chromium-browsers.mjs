/**
 * `npm run bench -w @skipmesh/e2e` (second part): one skip-graph node per browser, n browsers (issue 12: "one node
 * per browser gets the same budget: with n browsers, each holds O(log n) connections"). n browser contexts of one
 * headless Chromium (each a profile and a renderer of its own), each a demo page with `?nodes=1` on the default
 * `per-node` transport (every connection its own RTCPeerConnection), all in one room of one signaling server; once
 * with the demo's connection budget (`?budget=N`: core's `createConnectionBudget`, the node's table neighbours
 * tagged and protected) and once without it (`?budget=off`, the demo before), in the same run.
 *
 * The browsers open one after another, the next once the previous one's node joined. Per run: the time until
 * every node joined; then each node's open connections and table neighbours after the
 * joins, after the settled graph was watched (its merge checks dial the room's nodes), and after searches (each
 * tab searches random joined nodes); RTCPeerConnections each tab constructed, ever; the budget's prunes; search
 * latency. Writes docs/benchmarks/chromium-browsers.{json,md}. Needs the built demo (`npm run build`).
 *
 * Environment: BROWSERS_RUNS (e.g. `16:off,16:16`: browsers:budget, where budget is `off` or the
 * demo's `?budget=` value; default 8, 16 and 24 browsers, each without and with 16: 24 is the most this 2-core machine joins), BROWSERS_SEARCHES (searches per tab, default 16), BROWSERS_QUIET_MS
 * (how long the settled graph is watched, default 45000), BROWSERS_JOIN_LIMIT_MS (default 180000), BROWSERS_NOTES
 * (lines added under the table).
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium } from '@playwright/test'
import { launchOptions } from '../../scripts/chromium.mjs'
import {
  benchReport,
  benchRun,
  connectionsNow,
  joinedCount,
  loadNow,
  openTab,
  peerConnectionsConstructed,
  round,
  searchFigures,
  searchFromTabs,
  serveDemo,
  spread,
  writeReport,
} from './tabs.mjs'

const RUNS = (process.env.BROWSERS_RUNS ?? '8:off,8:16,16:off,16:16,24:off,24:16').split(',').map((r) => {
  const [browsers, budget] = r.split(':')
  return { browsers: Number.parseInt(browsers ?? '', 10), budget: budget ?? 'off' }
})
const SEARCHES = Number.parseInt(process.env.BROWSERS_SEARCHES ?? '16', 10)
const QUIET_MS = Number.parseInt(process.env.BROWSERS_QUIET_MS ?? '45000', 10)
const JOIN_LIMIT_MS = Number.parseInt(process.env.BROWSERS_JOIN_LIMIT_MS ?? '180000', 10)
/** How long one arriving browser's node may take to join before the next browser opens anyway. */
const ARRIVAL_LIMIT_MS = 20_000
const HARD_LIMIT_MS = 20 * 60_000

const { log, done } = benchRun(HARD_LIMIT_MS)

const here = (p) => fileURLToPath(new URL(p, import.meta.url))

const staticDir = here('../../apps/demo/dist')
if (!existsSync(`${staticDir}/index.html`)) {
  console.error(`bench: ${staticDir}/index.html is missing; run \`npm run build\` first`)
  process.exit(1)
}

/** One size and budget: opens the browsers, waits for the joins, reads connections at three moments. */
async function measure(browser, url, run) {
  const room = `browsers-${randomBytes(4).toString('hex')}`
  const query = `?nodes=1&room=${room}&transport=per-node&budget=${run.budget}`
  const contexts = []
  const pages = []
  const errors = []
  const result = { browsers: run.browsers, budget: run.budget, log2n: round(Math.log2(run.browsers)) }
  try {
    const t0 = performance.now()
    // the browsers arrive one after another, as users do: the next opens once the previous one's node has joined
    // (32 demo pages opened at the same instant saturate 2 cores for minutes: page loads, the start election)
    for (let i = 0; i < run.browsers; i++) {
      const { context, page } = await openTab(browser, `${url}/${query}`, errors)
      contexts.push(context)
      pages.push(page)
      const deadline = performance.now() + ARRIVAL_LIMIT_MS
      while ((await joinedCount([page])) < 1 && performance.now() < deadline)
        await new Promise((r) => setTimeout(r, 100))
      if (performance.now() - t0 > JOIN_LIMIT_MS) break
    }
    result.pagesOpenMs = round(performance.now() - t0, 0)
    for (;;) {
      const joined = await joinedCount(pages)
      result.joined = joined
      if (joined >= run.browsers) break
      if (performance.now() - t0 > JOIN_LIMIT_MS) {
        result.stoppedAfterMs = round(performance.now() - t0, 0)
        break
      }
      await new Promise((r) => setTimeout(r, 250))
    }
    result.joinedMs = round(performance.now() - t0, 0)
    log(`${run.browsers} browsers, budget ${run.budget}: ${result.joined} joined after ${result.joinedMs} ms`)
    result.afterJoins = await connectionsNow(pages)
    if (QUIET_MS > 0) {
      await new Promise((r) => setTimeout(r, QUIET_MS))
      result.settled = await connectionsNow(pages)
    }
    result.searches = searchFigures(await searchFromTabs(pages, SEARCHES))
    result.afterSearches = await connectionsNow(pages)
    const pcs = await peerConnectionsConstructed(pages)
    result.peerConnections = spread(pcs.filter((x) => x !== null))
    log(JSON.stringify(result))
  } catch (err) {
    result.failure = `${err.name}: ${err.message.split('\n')[0]}`
  } finally {
    await Promise.all(contexts.map((c) => c.close().catch(() => {})))
  }
  result.pageErrors = errors.length
  result.firstPageErrors = [...new Set(errors)].slice(0, 3)
  return result
}

const cell = (s) =>
  s === undefined ? '–' : `${s.connections.mean} / ${s.connections.p99} / ${s.connections.max}`

function markdown(report) {
  const lines = [
    '# One node per browser: connections per node with n browsers (issue 12)',
    '',
    `Generated by \`npm run bench -w @skipmesh/e2e\` (\`e2e/bench/chromium-browsers.mjs\`) on ${report.at}.`,
    `Machine: ${report.machine}, Node ${report.node}, Chromium ${report.chromium}; load average at the start ${report.loadBefore.join(' / ')} and at the end ${report.loadAfter.join(' / ')} (1 / 5 / 15 min).`,
    '',
    `n browser contexts of one headless Chromium (each a profile and a renderer of its own), opened one after another (the next once the previous one's node joined, at most ${ARRIVAL_LIMIT_MS} ms later), each a demo page with \`?nodes=1\` on the \`per-node\` transport (each connection its own RTCPeerConnection), all in one room of one signaling server on loopback (\`iceServers: []\`). **budget N**: the demo's default, each node's manager wrapped in core's \`createConnectionBudget({ maxConnections: N })\` with the skip-graph node tagging its table neighbours (protected; \`?budget=N\`); **off**: no budget (\`?budget=off\`, the demo before). Connections: each node's open connections (mean / p99 / max over the nodes) after every node joined, after the settled graph was watched ${QUIET_MS} ms (its merge checks dial nodes of the room), and after ${SEARCHES} searches per tab (all tabs at once, to random joined nodes). **RTCPeerConnections**: constructed per tab, ever (mean / max). Target (issue 12): O(log n) per node; the connection-economy bound at n is 2·log2 n + 4 (mean) and 4·log2 n (max).`,
    '',
    '| browsers | budget | log2 n | all joined (ms from the first page) | table neighbours mean / max | connections after joins | settled | after searches | target mean / max | RTCPeerConnections per tab, ever | pruned / over budget | searches p50 / p99 ms (wrong) | page errors |',
    '|---:|---|---:|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of report.runs) {
    const last = r.afterSearches ?? r.settled ?? r.afterJoins
    const log2 = Math.log2(r.browsers)
    lines.push(
      `| ${r.browsers} | ${r.budget} | ${r.log2n} | ${r.joined}/${r.browsers} in ${r.joinedMs ?? '–'} | ${last ? `${last.neighbours.mean} / ${last.neighbours.max}` : '–'} | ${cell(r.afterJoins)} | ${cell(r.settled)} | ${cell(r.afterSearches)} | ≤ ${round(2 * log2 + 4, 1)} / ≤ ${round(4 * log2, 1)} | ${r.peerConnections ? `${r.peerConnections.mean} / ${r.peerConnections.max}` : '–'} | ${last ? `${last.pruned} / ${last.overBudget}` : '–'} | ${r.searches ? `${r.searches.p50Ms} / ${r.searches.p99Ms} (${r.searches.wrong}/${r.searches.count})` : '–'} | ${r.pageErrors}${r.failure ? `; ${r.failure}` : ''}${r.firstPageErrors.length > 0 ? `: ${r.firstPageErrors.map((e) => `\`${e.slice(0, 80)}\``).join('; ')}` : ''} |`,
    )
  }
  lines.push('', ...report.notes, '')
  return lines.join('\n')
}

const loadBefore = loadNow()
const server = await serveDemo(staticDir)
const browser = await chromium.launch({ headless: true, ...launchOptions() })
const runs = []
try {
  for (const run of RUNS) {
    log(`run: ${run.browsers} browsers, budget ${run.budget}`)
    runs.push(await measure(browser, server.url, run))
  }
} finally {
  await browser.close().catch(() => {})
  await server.close()
}
await writeReport(
  'chromium-browsers',
  benchReport(browser, loadBefore, 'BROWSERS_NOTES', { searchesPerTab: SEARCHES, quietMs: QUIET_MS, runs }),
  markdown,
)
log('wrote docs/benchmarks/chromium-browsers.{json,md}')
done()
