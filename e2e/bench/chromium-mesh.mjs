/**
 * `npm run bench -w @skipmesh/e2e`: the demo's skip graph in headless Chromium, 4 browser contexts (separate
 * profiles) on one signaling server, once per transport and size. Per run: the time until 25 %, 50 % and 100 %
 * of the nodes have joined (from the moment the pages were opened), the latency of searches (p50, p99, and per
 * hop), the RTCPeerConnections each tab constructed (counted by wrapping the constructor before any page
 * script runs, `count-peer-connections.js`), and page errors. The per-node transport (one WebRTC manager per
 * node: what the demo ran before the multiplexer) is the baseline; where it cannot run (Chromium refuses more
 * than about 500 RTCPeerConnections per process) the run records how far it got and the error.
 * Writes docs/benchmarks/chromium-mesh.{json,md}. Needs the built demo (`npm run build`).
 *
 * Environment: MESH_RUNS (default `shared:64,per-node:8:off,per-node:8`: transport:nodes per tab, and optionally the
 * demo's `?budget=` (`shared:64:off`: no connection budget; without it, the demo's default); `before:shared:64`
 * runs the build in MESH_BEFORE_DIR, e.g. the demo of the previous commit, for a before/after in one run), MESH_SEARCHES
 * (sequential searches per tab, default 50), MESH_JOIN_LIMIT_MS (default 120000), MESH_NOTES (lines added under
 * the table: the load and what was measured), MESH_CURRENT_DIR
 * (serve the measured build from a copy instead of apps/demo/dist), MESH_QUIET_MS (how long the settled graph is
 * watched after the joins, default 30000; 0: not), MESH_PROFILE=1 (a CPU profile of the first tab over that window).
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
  writeReport,
} from './tabs.mjs'

const CONTEXTS = 4
const RUNS = (process.env.MESH_RUNS ?? 'shared:64,per-node:8:off,per-node:8').split(',').map((r) => {
  const parts = r.split(':')
  const before = parts[0] === 'before'
  const [transport, nodes, budget] = before ? parts.slice(1) : parts
  return { transport, nodes: Number.parseInt(nodes ?? '', 10), before, budget }
})
/** A build of the demo before the change being measured (`before:shared:64` runs are served from it). */
const BEFORE_DIR = process.env.MESH_BEFORE_DIR
const SEARCHES = Number.parseInt(process.env.MESH_SEARCHES ?? '50', 10)
const JOIN_LIMIT_MS = Number.parseInt(process.env.MESH_JOIN_LIMIT_MS ?? '120000', 10)
/**
 * A run whose joined count has not grown for this long since a first node joined is stuck (e.g. at the
 * RTCPeerConnection cap); before the first join only MESH_JOIN_LIMIT_MS stops it (electing who starts may be slow).
 */
const STALL_MS = 30_000
/** After the joins: how long the settled graph is watched before the searches (renderer busy time, messages sent). */
const QUIET_MS = Number.parseInt(process.env.MESH_QUIET_MS ?? '30000', 10)
/** MESH_PROFILE=1: a CPU profile of the first tab over that window, its top functions by self time in the JSON. */
const PROFILE = process.env.MESH_PROFILE === '1'
const HARD_LIMIT_MS = 15 * 60_000

const { log, done } = benchRun(HARD_LIMIT_MS)

const here = (p) => fileURLToPath(new URL(p, import.meta.url))

/** The demo measured: apps/demo/dist, or a copy of a build (MESH_CURRENT_DIR: the tree is shared, its dist may change). */
const staticDir = process.env.MESH_CURRENT_DIR ?? here('../../apps/demo/dist')
if (!existsSync(`${staticDir}/index.html`)) {
  console.error(`bench: ${staticDir}/index.html is missing; run \`npm run build\` first`)
  process.exit(1)
}

/**
 * Messages the tabs' nodes sent so far, summed: per channel (`skipgraph`, `demo.graph`), the skip graph's by kind,
 * its merge checks, and the skip-graph messages per joined node (what a join costs, background traffic included).
 */
async function messageCounts(pages, joined) {
  const per = await Promise.all(
    pages.map((p) =>
      p
        .evaluate(() => {
          const channels = {}
          for (const [k, v] of Object.entries(window.skipmesh.metrics().channels))
            channels[k] = v.messagesSent
          const kinds = {}
          let mergeChecks = 0
          for (const n of window.skipmesh.nodes()) {
            for (const [k, v] of Object.entries(n.skipgraph.sentByKind)) kinds[k] = (kinds[k] ?? 0) + v
            mergeChecks += n.skipgraph.mergeChecks ?? 0
          }
          return { channels, kinds, mergeChecks }
        })
        .catch(() => ({ channels: {}, kinds: {}, mergeChecks: 0 })),
    ),
  )
  const sum = (pick) => {
    const out = {}
    for (const x of per) for (const [k, v] of Object.entries(pick(x))) out[k] = (out[k] ?? 0) + v
    return out
  }
  const channels = sum((x) => x.channels)
  return {
    channels,
    kinds: sum((x) => x.kinds),
    mergeChecks: per.reduce((s, x) => s + x.mergeChecks, 0),
    skipgraphPerJoined: joined > 0 ? round((channels.skipgraph ?? 0) / joined, 0) : null,
    describePerJoined: joined > 0 ? round((channels['demo.graph'] ?? 0) / joined, 0) : null,
  }
}

/**
 * The functions that took the most self time in a CPU profile (Chrome DevTools Protocol `Profiler`), as
 * `[name (file:line), ms]`, and the profile's total: where a renderer's main thread goes.
 */
function topSelfTime(profile, count) {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map()
  const deltas = profile.timeDeltas
  for (let i = 0; i < profile.samples.length; i++) {
    const n = byNode.get(profile.samples[i])
    const f = n.callFrame
    const key = `${f.functionName || '(anonymous)'} (${f.url.split('/').pop()}:${f.lineNumber + 1})`
    self.set(key, (self.get(key) ?? 0) + (deltas[i] ?? 0) / 1000)
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, count)
  return { totalMs: round(total, 0), top: top.map(([k, v]) => [k, round(v, 1)]) }
}

/** A renderer's main-thread task time so far, in ms (Chrome DevTools Protocol `Performance.getMetrics`). */
async function taskMs(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics')
  return (metrics.find((m) => m.name === 'TaskDuration')?.value ?? 0) * 1000
}

/**
 * Watches `ms` of the tabs' life: the share of the wall time each renderer's main thread was busy, and the
 * skip-graph messages the tabs' nodes sent per second and node, by kind (what a settled graph costs).
 */
async function watchSettled(pages, cdps, joined, ms) {
  const before = await Promise.all(cdps.map(taskMs))
  const m0 = await messageCounts(pages, joined)
  if (PROFILE) {
    await cdps[0].send('Profiler.enable')
    await cdps[0].send('Profiler.start')
  }
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, ms))
  const after = await Promise.all(cdps.map(taskMs))
  const profile = PROFILE ? topSelfTime((await cdps[0].send('Profiler.stop')).profile, 30) : undefined
  const m1 = await messageCounts(pages, joined)
  const wall = performance.now() - t0
  const perNodeSecond = {}
  for (const [k, v] of Object.entries(m1.kinds))
    perNodeSecond[k] = round((v - (m0.kinds[k] ?? 0)) / Math.max(1, joined) / (wall / 1000))
  return {
    ms: round(wall, 0),
    busy: after.map((a, i) => round((a - before[i]) / wall)),
    sentPerNodeSecond: perNodeSecond,
    mergeChecksPerNodeSecond: round((m1.mergeChecks - m0.mergeChecks) / Math.max(1, joined) / (wall / 1000)),
    profile,
  }
}

/** One transport at one size: opens the tabs, times the joins, runs searches, counts RTCPeerConnections. */
async function measure(browser, url, run) {
  const total = CONTEXTS * run.nodes
  const marks = [Math.ceil(total / 4), Math.ceil(total / 2), total]
  const room = `bench-${randomBytes(4).toString('hex')}`
  const contexts = []
  const pages = []
  const errors = []
  const cdps = []
  const result = {
    transport: run.transport,
    before: run.before,
    budget: run.budget ?? 'default',
    nodesPerTab: run.nodes,
    total,
    joinedMs: {},
    joined: 0,
  }
  try {
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: CONTEXTS }, async () => {
        const { context, page } = await openTab(
          browser,
          `${url}/?nodes=${run.nodes}&room=${room}&transport=${run.transport}${run.budget === undefined ? '' : `&budget=${run.budget}`}`,
          errors,
        )
        contexts.push(context)
        pages.push(page)
        const cdp = await context.newCDPSession(page)
        await cdp.send('Performance.enable')
        cdps.push(cdp)
      }),
    )
    result.transportInPage = await pages[0].evaluate(() => window.skipmesh.transport?.() ?? 'per-node')
    let last = 0
    let lastGrowth = performance.now()
    for (;;) {
      const now = performance.now()
      const joined = await joinedCount(pages)
      if (joined > last) lastGrowth = now
      last = joined
      for (const m of marks)
        if (joined >= m && result.joinedMs[m] === undefined) result.joinedMs[m] = round(now - t0, 0)
      if (joined >= total) break
      if (now - t0 > JOIN_LIMIT_MS || (last > 0 && now - lastGrowth > STALL_MS)) {
        result.stoppedAfterMs = round(now - t0, 0)
        break
      }
      await new Promise((r) => setTimeout(r, 250))
    }
    result.joined = last
    log(`${run.transport} ${CONTEXTS}×${run.nodes}: ${last}/${total} joined`, result.joinedMs)

    if (last > 1 && QUIET_MS > 0) {
      result.settled = await watchSettled(pages, cdps, last, QUIET_MS)
      log('settled', JSON.stringify(result.settled))
    }
    // sequential searches from random local nodes to random joined nodes, per tab
    if (last > 1) {
      const busy0 = await Promise.all(cdps.map(taskMs))
      const searchStart = performance.now()
      const traces = await searchFromTabs(pages, SEARCHES)
      const busy1 = await Promise.all(cdps.map(taskMs))
      const searchWall = performance.now() - searchStart
      result.searches = {
        ...searchFigures(traces),
        busy: busy1.map((b, i) => round((b - busy0[i]) / searchWall)),
      }
    }
    result.messages = await messageCounts(pages, result.joined)
    result.peerConnections = await peerConnectionsConstructed(pages)
    result.connections = await connectionsNow(pages)
  } catch (err) {
    result.failure = `${err.name}: ${err.message.split('\n')[0]}`
  } finally {
    await Promise.all(contexts.map((c) => c.close().catch(() => {})))
  }
  result.pageErrors = errors.length
  result.firstPageErrors = [...new Set(errors)].slice(0, 3)
  return result
}

/** A run's row label: its transport, the budget when not the demo's default, and whether it ran the build before. */
function label(r) {
  const budget = r.budget === undefined || r.budget === 'default' ? '' : `, budget ${r.budget}`
  return `${r.transportInPage ?? r.transport}${budget}${r.before ? ' (before)' : ''}`
}

function markdown(report) {
  const lines = [
    '# The demo in Chromium: many nodes per tab (issue 12)',
    '',
    `Generated by \`npm run bench -w @skipmesh/e2e\` (\`e2e/bench/chromium-mesh.mjs\`) on ${report.at}.`,
    `Machine: ${report.machine}, Node ${report.node}, Chromium ${report.chromium}; load average at the start ${report.loadBefore.join(' / ')} and at the end ${report.loadAfter.join(' / ')} (1 / 5 / 15 min).`,
    '',
    `${CONTEXTS} browser contexts of one headless Chromium, each a demo page with \`?nodes=N\`, all in one room of one signaling server (in this process, on loopback, \`iceServers: []\`). **Joined** = milliseconds from opening the pages until that many nodes report \`joined\` (summed over the tabs, polled every 250 ms). **Searches**: ${SEARCHES} per tab, one after another, from a random node of the tab to a random joined node; latency is the demo's \`search\` wall-clock time; per hop = latency / hops. **RTCPeerConnections**: constructed by each page, ever (the constructor is wrapped before any page script runs). **Connections per node**: each node's open connections after the searches (virtual links on \`shared\`), beside its distinct table neighbours. **budget**: the demo's \`?budget=\` (core's connection budget per node, the table neighbours protected; the demo's default is 16 on \`per-node\` and none on \`shared\`). \`shared\`: the tab's nodes share one host (one RTCPeerConnection per other tab); \`per-node\`: every node its own WebRTC manager (the demo before the multiplexer).`,
    '',
    '| transport | nodes (tabs × per tab) | joined 25 % / 50 % / 100 % (ms) | joined | search p50 / p99 (ms) | per hop p50 / p99 (ms) | mean hops | wrong | RTCPeerConnections per tab | connections per node at the end: mean / max (table neighbours: mean / max) | messages per joined node: skipgraph / demo.graph | page errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of report.runs) {
    const m = [Math.ceil(r.total / 4), Math.ceil(r.total / 2), r.total]
      .map((k) => r.joinedMs[k] ?? '–')
      .join(' / ')
    const s = r.searches
    lines.push(
      `| ${label(r)} | ${r.total} (${CONTEXTS} × ${r.nodesPerTab}) | ${m} | ${r.joined}/${r.total}${r.stoppedAfterMs === undefined ? '' : ` (stopped at ${r.stoppedAfterMs} ms)`} | ${s ? `${s.p50Ms} / ${s.p99Ms}` : '–'} | ${s ? `${s.perHopP50Ms} / ${s.perHopP99Ms}` : '–'} | ${s?.meanHops ?? '–'} | ${s ? `${s.wrong}/${s.count}` : '–'} | ${(r.peerConnections ?? []).join(', ')} | ${r.connections ? `${r.connections.connections.mean} / ${r.connections.connections.max} (${r.connections.neighbours.mean} / ${r.connections.neighbours.max})` : '–'} | ${r.messages ? `${r.messages.skipgraphPerJoined} / ${r.messages.describePerJoined}` : '–'} | ${r.pageErrors}${r.firstPageErrors.length > 0 ? `: ${r.firstPageErrors.map((e) => `\`${e.slice(0, 80)}\``).join('; ')}` : ''} |`,
    )
  }
  lines.push(
    '',
    `**The settled graph** (after the joins, ${QUIET_MS} ms watched before the searches): the share of the wall time each tab's renderer main thread was busy (Chrome DevTools Protocol \`TaskDuration\`), then during the searches; and the skip-graph messages sent per joined node and second, by kind.`,
    '',
    '| transport | nodes | renderer busy, settled | renderer busy, searching | sent per node and second: total (by kind) | merge checks per node and second |',
    '|---|---|---|---|---|---|',
  )
  for (const r of report.runs) {
    const q = r.settled
    if (q === undefined) continue
    const total = Object.values(q.sentPerNodeSecond).reduce((a, b) => a + b, 0)
    const kinds = Object.entries(q.sentPerNodeSecond)
      .filter(([, v]) => v >= 0.01)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')
    lines.push(
      `| ${label(r)} | ${r.total} | ${q.busy.join(', ')} | ${r.searches?.busy?.join(', ') ?? '–'} | ${round(total)} (${kinds}) | ${q.mergeChecksPerNodeSecond} |`,
    )
  }
  lines.push('', ...report.notes, '')
  return lines.join('\n')
}

const loadBefore = loadNow()
const server = await serveDemo(staticDir)
const beforeServer = BEFORE_DIR === undefined ? undefined : await serveDemo(BEFORE_DIR)
const browser = await chromium.launch({ headless: true, ...launchOptions() })
const runs = []
try {
  for (const run of RUNS) {
    if (run.before && beforeServer === undefined) throw new Error('before: runs need MESH_BEFORE_DIR')
    log(`run ${run.before ? 'before ' : ''}${run.transport} ${CONTEXTS}×${run.nodes}`)
    runs.push(await measure(browser, run.before ? beforeServer.url : server.url, run))
  }
} finally {
  await browser.close().catch(() => {})
  await server.close()
  await beforeServer?.close()
}
await writeReport('chromium-mesh', benchReport(browser, loadBefore, 'MESH_NOTES', { runs }), markdown)
log('wrote docs/benchmarks/chromium-mesh.{json,md}')
done()
