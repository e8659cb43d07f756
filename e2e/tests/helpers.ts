import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import {
  type Browser,
  type BrowserContext,
  type Page,
  type TestInfo,
  chromium,
  expect,
} from '@playwright/test'
import { contextOptions, launchOptions } from '../../scripts/chromium.mjs'
import type {} from '../../apps/demo/src/api.js'
import type { GraphSnapshot, NodeTable } from '../../apps/demo/src/graph.js'
import type { SearchTrace } from '../../apps/demo/src/mesh.js'

export type { GraphSnapshot, NodeTable, SearchTrace }

/** One browser context with the demo open. */
export interface Tab {
  context: BrowserContext
  page: Page
  /** Console errors and uncaught page errors seen so far. */
  errors: string[]
}

/** A room name no other test uses. */
export function uniqueRoom(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`
}

/**
 * An init script that wraps `RTCPeerConnection` so that a page counts every one it ever constructs
 * (`window.__peerConnections.constructed`), before any of the page's own scripts run.
 */
export const COUNT_PEER_CONNECTIONS = fileURLToPath(new URL('../count-peer-connections.js', import.meta.url))

/** How many RTCPeerConnections the page has constructed so far (needs {@link COUNT_PEER_CONNECTIONS}). */
export async function peerConnectionsConstructed(page: Page): Promise<number> {
  return page.evaluate(
    () => (window as unknown as { __peerConnections: { constructed: number } }).__peerConnections.constructed,
  )
}

/** Opens `count` browser contexts (separate profiles, like separate users), each with `nodes` nodes. */
export async function openTabs(
  browser: Browser,
  options: {
    baseURL: string
    room: string
    count: number
    nodes: number
    /** Extra query parameters of the demo page. */
    query?: string
    /** Counts the RTCPeerConnections each page constructs ({@link peerConnectionsConstructed}). */
    countPeerConnections?: boolean
  },
): Promise<Tab[]> {
  const tabs = await Promise.all(
    Array.from({ length: options.count }, async () => {
      const context = await browser.newContext({
        ...contextOptions,
        viewport: { width: 1500, height: 950 },
      })
      if (options.countPeerConnections === true) await context.addInitScript({ path: COUNT_PEER_CONNECTIONS })
      const page = await context.newPage()
      const errors: string[] = []
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(msg.text())
      })
      page.on('pageerror', (err) => errors.push(`${err.name}: ${err.message}`))
      await page.goto(
        `${options.baseURL}/?nodes=${options.nodes}&room=${options.room}${options.query === undefined ? '' : `&${options.query}`}`,
      )
      return { context, page, errors }
    }),
  )
  return tabs
}

/** Waits until every node of every tab has joined. */
export async function allReady(tabs: readonly Tab[]): Promise<void> {
  await Promise.all(tabs.map((t) => t.page.evaluate(() => window.skipmesh.ready())))
}

/** The lookup table of every node, read from the tab that hosts it (the ground truth). */
export async function realTables(tabs: readonly Tab[]): Promise<Map<string, NodeTable>> {
  const out = new Map<string, NodeTable>()
  for (const t of tabs) {
    if (t.page.isClosed()) continue
    const nodes = await t.page.evaluate(() => window.skipmesh.nodes())
    for (const n of nodes) if (n.joined) out.set(n.id, n.table)
  }
  return out
}

/** `level:from:to` for every right-neighbour pointer of `tables` whose target is one of `tables`. */
export function edgeSet(tables: ReadonlyMap<string, NodeTable> | Record<string, NodeTable>): string[] {
  const entries: Array<[string, NodeTable]> =
    tables instanceof Map ? [...tables.entries()] : Object.entries(tables)
  const ids = new Set(entries.map(([id]) => id))
  const out: string[] = []
  for (const [id, t] of entries) {
    t.levels.forEach((l, level) => {
      if (l.right !== null && ids.has(l.right)) out.push(`${level}:${id}:${l.right}`)
    })
  }
  return out.sort()
}

/** Comparable form of a table (no tab field). */
function tableKey(t: NodeTable): string {
  return JSON.stringify([t.id, t.mv, t.levels.map((l) => [l.left, l.right])])
}

/**
 * Why the picture of `tab` differs from the real lookup tables, or `'equal'`. Checks `window.skipmesh.graph()`
 * (after a fresh fetch) and the SVG: every node drawn at level 0, every list link drawn.
 */
export async function compareGraph(tab: Tab, real: ReadonlyMap<string, NodeTable>): Promise<string> {
  const snap: GraphSnapshot = await tab.page.evaluate(() => window.skipmesh.refresh())
  const drawnIds = snap.nodes.map((n) => n.id)
  const realIds = [...real.keys()].sort()
  if (JSON.stringify(drawnIds) !== JSON.stringify(realIds)) {
    return `nodes differ: drawn ${drawnIds.length}, real ${realIds.length}`
  }
  for (const id of realIds) {
    const mine = snap.tables[id]
    if (mine === undefined || tableKey(mine) !== tableKey(real.get(id)!))
      return `table of ${id.slice(0, 8)} differs`
  }
  const realEdges = edgeSet(real)
  const apiEdges = snap.edges.map((e) => `${e.level}:${e.from}:${e.to}`).sort()
  if (JSON.stringify(apiEdges) !== JSON.stringify(realEdges))
    return 'graph().edges differ from the lookup tables'
  const dom = await tab.page.evaluate(() => ({
    nodes: [...document.querySelectorAll<SVGGElement>('svg#graph g.node[data-level="0"]')].map(
      (g) => g.dataset.id ?? '',
    ),
    // a run of identical levels is drawn once: data-level to data-level-to; a folded level's links are arcs
    edges: [...document.querySelectorAll<SVGElement>('svg#graph .edges .edge')].flatMap((l) => {
      const out: string[] = []
      for (let level = Number(l.dataset.level); level <= Number(l.dataset.levelTo); level++) {
        out.push(`${level}:${l.dataset.from}:${l.dataset.to}`)
      }
      return out
    }),
  }))
  if (JSON.stringify([...dom.nodes].sort()) !== JSON.stringify(realIds)) return 'SVG level-0 nodes differ'
  if (JSON.stringify([...dom.edges].sort()) !== JSON.stringify(realEdges)) return 'SVG list links differ'
  return 'equal'
}

/** Level 0 of `tables` is one sorted, doubly linked list of every node (the skip graph's base list). */
export function level0Problem(tables: ReadonlyMap<string, NodeTable>): string | undefined {
  const ids = [...tables.keys()].sort()
  for (let i = 0; i < ids.length; i++) {
    const l0 = tables.get(ids[i]!)!.levels[0]
    const left = i > 0 ? ids[i - 1]! : null
    const right = i < ids.length - 1 ? ids[i + 1]! : null
    if (l0 === undefined) return `${ids[i]!.slice(0, 8)} has no level 0`
    if (l0.left !== left || l0.right !== right)
      return `level 0 of ${ids[i]!.slice(0, 8)} is not its sorted neighbours`
  }
  return undefined
}

/** Waits until every open tab draws exactly the union of the real lookup tables of `expected` nodes. */
export async function expectGraphsConverge(
  tabs: readonly Tab[],
  expected: number,
  timeout = 60_000,
): Promise<void> {
  await expect
    .poll(
      async () => {
        const real = await realTables(tabs)
        if (real.size !== expected) return `${real.size}/${expected} nodes joined`
        const problem = level0Problem(real)
        if (problem !== undefined) return problem
        for (const t of tabs) {
          if (t.page.isClosed()) continue
          const verdict = await compareGraph(t, real)
          if (verdict !== 'equal') return verdict
        }
        return 'equal'
      },
      { timeout, intervals: [250, 500, 1000] },
    )
    .toBe('equal')
}

/** A random 32-byte id (hex) that is not in `taken`. */
export function randomAbsentId(taken: ReadonlySet<string>): string {
  for (;;) {
    const id = randomBytes(32).toString('hex')
    if (!taken.has(id)) return id
  }
}

/**
 * The answer a search for `target` started at `start` must give (skip-graph result semantics, as
 * @skipmesh/skipgraph documents them): the node holding `target` if present; otherwise, searching toward
 * larger ids (target > start) the largest id below `target`, toward smaller ids the smallest id above it.
 */
export function oracle(
  sortedIds: readonly string[],
  start: string,
  target: string,
): { result: string; found: boolean } {
  if (sortedIds.includes(target)) return { result: target, found: true }
  if (target > start) {
    let best = start
    for (const id of sortedIds) if (id < target && id > best) best = id
    return { result: best, found: false }
  }
  let best = start
  for (const id of sortedIds) if (id > target && id < best) best = id
  return { result: best, found: false }
}

/** Runs the given searches from the nodes of one tab; traces in the same order. */
export async function searchMany(
  tab: Tab,
  searches: ReadonlyArray<{ from: string; target: string }>,
): Promise<SearchTrace[]> {
  return tab.page.evaluate(
    (list) => Promise.all(list.map((s) => window.skipmesh.search(s.from, s.target, { show: false }))),
    searches as Array<{ from: string; target: string }>,
  )
}

/**
 * Every node of every tab searches 10 present and 5 absent ids; checks each result against the oracle and
 * each trace for plausibility. Returns the traces.
 */
export async function searchEverywhere(
  tabs: readonly Tab[],
  liveIds: readonly string[],
  options: { present?: number; absent?: number } = {},
): Promise<SearchTrace[]> {
  const sorted = [...liveIds].sort()
  const taken = new Set(sorted)
  const all: SearchTrace[] = []
  await Promise.all(
    tabs.map(async (tab) => {
      const locals = (await tab.page.evaluate(() => window.skipmesh.nodes()))
        .filter((n) => n.joined)
        .map((n) => n.id)
      const searches: Array<{ from: string; target: string }> = []
      for (const from of locals) {
        for (let i = 0; i < (options.present ?? 10); i++) {
          searches.push({ from, target: sorted[Math.floor(Math.random() * sorted.length)]! })
        }
        for (let i = 0; i < (options.absent ?? 5); i++) searches.push({ from, target: randomAbsentId(taken) })
      }
      all.push(...(await searchMany(tab, searches)))
    }),
  )
  const maxHops = 4 * Math.ceil(Math.log2(Math.max(2, sorted.length))) + 4
  for (const t of all) {
    const want = oracle(sorted, t.from, t.target)
    expect(t.error, `search ${t.target.slice(0, 8)} from ${t.from.slice(0, 8)}`).toBeNull()
    expect(
      { result: t.result, found: t.found },
      `search ${t.target.slice(0, 8)} from ${t.from.slice(0, 8)}`,
    ).toEqual(want)
    checkTrace(t, taken, maxHops)
  }
  const mean = all.reduce((s, t) => s + t.hops.length, 0) / Math.max(1, all.length)
  expect(mean).toBeLessThanOrEqual(2 * Math.log2(Math.max(2, sorted.length)) + 2)
  return all
}

/**
 * Each tab runs `perTab` searches from random nodes of its own (three present targets for every absent one);
 * checks each result against the oracle and each trace for plausibility. Returns the traces.
 */
export async function searchSample(
  tabs: readonly Tab[],
  liveIds: readonly string[],
  perTab: number,
): Promise<SearchTrace[]> {
  const sorted = [...liveIds].sort()
  const taken = new Set(sorted)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!
  const all = (
    await Promise.all(
      tabs.map(async (tab) => {
        const locals = (await tab.page.evaluate(() => window.skipmesh.nodes()))
          .filter((n) => n.joined)
          .map((n) => n.id)
        const searches = Array.from({ length: perTab }, (_, i) => ({
          from: pick(locals),
          target: i % 4 === 3 ? randomAbsentId(taken) : pick(sorted),
        }))
        return searchMany(tab, searches)
      }),
    )
  ).flat()
  const maxHops = 4 * Math.ceil(Math.log2(Math.max(2, sorted.length))) + 4
  for (const t of all) {
    const where = `search ${t.target.slice(0, 8)} from ${t.from.slice(0, 8)}`
    expect(t.error, where).toBeNull()
    expect({ result: t.result, found: t.found }, where).toEqual(oracle(sorted, t.from, t.target))
    checkTrace(t, taken, maxHops)
  }
  return all
}

/**
 * A trace is plausible: it ends at the result, visits only live nodes, never climbs a level (a healthy graph
 * needs no detour), and is not too long.
 */
export function checkTrace(t: SearchTrace, live: ReadonlySet<string>, maxHops: number): void {
  const where = `trace of ${t.target.slice(0, 8)} from ${t.from.slice(0, 8)}`
  expect(t.hops.length, where).toBeLessThanOrEqual(maxHops)
  // answered by the start itself (no node between it and the target), or by the last node forwarded to
  expect(t.hops.at(-1)?.node ?? t.from, where).toBe(t.result)
  for (let i = 0; i < t.hops.length; i++) {
    const hop = t.hops[i]!
    expect(live.has(hop.node), `${where}: hop ${i} at a live node`).toBe(true)
    const prevLevel = i > 0 ? t.hops[i - 1]!.level : t.startLevel
    expect(hop.level, `${where}: hop ${i} never climbs a level`).toBeLessThanOrEqual(prevLevel)
    expect(hop.detour, `${where}: hop ${i} needs no detour`).toBe(false)
  }
}

/** Waits for the drawn route of search `seq` to finish animating; returns its hops in DOM order. */
export async function drawnRoute(
  page: Page,
  seq: number,
): Promise<Array<{ index: number; node: string; level: number }>> {
  await page.waitForFunction((s) => {
    const g = document.querySelector('svg#graph #route')
    return g?.getAttribute('data-seq') === String(s) && g.getAttribute('data-state') === 'done'
  }, seq)
  return page.evaluate(() =>
    [...document.querySelectorAll<SVGGElement>('svg#graph #route g.hop')].map((g) => ({
      index: Number(g.dataset.hopIndex),
      node: g.dataset.id ?? '',
      level: Number(g.dataset.level),
    })),
  )
}

/** Saves a screenshot of `page` as a test artifact. */
export async function attachScreenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`)
  await page.screenshot({ path, fullPage: true })
  await testInfo.attach(name, { path, contentType: 'image/png' })
}

/** Closes every context. */
export async function closeAll(tabs: readonly Tab[]): Promise<void> {
  await Promise.all(tabs.map((t) => t.context.close().catch(() => {})))
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** The demo + signaling server as a child process this test controls. */
export interface ServerProcess {
  readonly url: string
  readonly child: ChildProcess
  /** Sends SIGKILL and resolves once the process exited. */
  kill(): Promise<void>
}

/** Starts apps/demo/serve.mjs on `port`; resolves once it printed its URL. */
export async function startServer(port: number): Promise<ServerProcess> {
  const script = fileURLToPath(new URL('../../apps/demo/serve.mjs', import.meta.url))
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('http://')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}

/** The test fails if any tab logged a console error. */
export function expectNoConsoleErrors(tabs: readonly Tab[]): void {
  for (const t of tabs) expect(t.errors, 'console errors').toEqual([])
}

/** A {@link Tab} whose page can be frozen and resumed (Page Lifecycle), in a Chromium of its own. */
export interface FreezableTab extends Tab {
  /**
   * Hides and freezes the page (CDP `Page.setWebLifecycleState` `frozen`), as Chromium does with a background tab:
   * its timers and tasks stop until {@link resume}; it sees `visibilitychange` (hidden) and `freeze`.
   */
  freeze(): Promise<void>
  /** Makes the page active and visible again, as when its tab is brought back: it sees `resume`, then visible. */
  resume(): Promise<void>
  /** Closes the page's browser. */
  close(): Promise<void>
}

/**
 * Opens the demo with `nodes` nodes in a Chromium of its own whose page can be frozen. Playwright turns on
 * focus emulation in every page of its own contexts, which counts as capturing the page: Chromium then keeps
 * it visible and ignores `Page.setWebLifecycleState` `frozen` (its timers go on running). So this browser is
 * launched with a debugging port and driven through `connectOverCDP` with `noDefaults`, whose default context
 * Playwright leaves unemulated; the tab's own CDP session turns focus emulation off to freeze (the page goes
 * hidden) and on again to resume (visible).
 */
export async function openFreezableTab(options: {
  baseURL: string
  room: string
  nodes: number
  /** Extra query parameters of the demo page. */
  query?: string
}): Promise<FreezableTab> {
  const port = await freePort()
  const launched = await chromium.launch({
    headless: true,
    ...launchOptions(),
    args: [...launchOptions().args, `--remote-debugging-port=${port}`],
  })
  try {
    const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`, { noDefaults: true })
    const context = browser.contexts()[0]!
    await context.grantPermissions(contextOptions.permissions)
    const page = await context.newPage()
    await page.setViewportSize({ width: 1500, height: 950 })
    const errors: string[] = []
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text())
    })
    page.on('pageerror', (err) => errors.push(`${err.name}: ${err.message}`))
    const cdp = await context.newCDPSession(page)
    await page.goto(
      `${options.baseURL}/?nodes=${options.nodes}&room=${options.room}${options.query === undefined ? '' : `&${options.query}`}`,
    )
    return {
      context,
      page,
      errors,
      freeze: async () => {
        await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: false })
        await cdp.send('Page.setWebLifecycleState', { state: 'frozen' })
      },
      resume: async () => {
        await cdp.send('Page.setWebLifecycleState', { state: 'active' })
        await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: true })
      },
      close: async () => {
        await browser.close().catch(() => {})
        await launched.close()
      },
    }
  } catch (err) {
    await launched.close()
    throw err
  }
}
