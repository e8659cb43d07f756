import { expect, test } from '@playwright/test'
import {
  type ServerProcess,
  type Tab,
  allReady,
  attachScreenshot,
  closeAll,
  expectGraphsConverge,
  freePort,
  openTabs,
  realTables,
  searchSample,
  startServer,
  uniqueRoom,
} from './helpers.js'

const CONTEXTS = 4
const NODES_PER_TAB = 1

/**
 * What a page may log once the signaling server is gone: Chromium's own report of each failed WebSocket
 * (re)connection of a signaling client (`WebSocket connection to 'ws://…/socket.io/…' failed: …`). Nothing else.
 */
const SIGNALING_DOWN = /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/socket\.io\/.*' failed/

/** Console errors of `tab` other than the expected signaling-down ones. */
function unexpectedErrors(tab: Tab): string[] {
  return tab.errors.filter((e) => !SIGNALING_DOWN.test(e))
}

/** Node id → the tab (index) that hosts it, and each node's open connections. */
async function layout(
  tabs: readonly Tab[],
): Promise<{ tabOf: Map<string, number>; links: Map<string, string[]> }> {
  const tabOf = new Map<string, number>()
  const links = new Map<string, string[]>()
  for (const [i, t] of tabs.entries()) {
    for (const n of await t.page.evaluate(() => window.skipmesh.nodes())) {
      tabOf.set(n.id, i)
      links.set(n.id, n.connections)
    }
  }
  return { tabOf, links }
}

/** Signals the tab's nodes sent through the server and through the overlay, summed. */
async function signalTotals(tab: Tab): Promise<{ server: number; overlay: number }> {
  const nodes = await tab.page.evaluate(() => window.skipmesh.nodes())
  let server = 0
  let overlay = 0
  for (const n of nodes) {
    server += n.signals?.serverSent ?? 0
    overlay += n.signals?.overlaySent ?? 0
  }
  return { server, overlay }
}

/**
 * The demo's transports, each in its own run: `per-node` (every node its own WebRTC manager, the default) and
 * `shared` (the tab's nodes on one WebRTC host, one RTCPeerConnection per other tab; its host-level signals go through
 * the graph too, and the other tabs learn a node's host from the host link its links arrive on).
 */
const TRANSPORTS = [
  { name: 'per-node', query: undefined },
  { name: 'shared', query: 'transport=shared' },
] as const

for (const transport of TRANSPORTS) {
  test(`after the signaling server stops, the graph keeps searching, leaving and connecting through the overlay; a new tab cannot bootstrap (${transport.name})`, async ({
    browser,
  }, testInfo) => {
    const t0 = performance.now()
    const step = (what: string): void => {
      testInfo.annotations.push({
        type: 'step',
        description: `${what} at ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      })
    }
    const port = await freePort()
    let server: ServerProcess | undefined = await startServer(port)
    let tabs: Tab[] = []
    let newcomer: Tab | undefined
    try {
      const room = uniqueRoom('server-stop')
      const query = transport.query === undefined ? {} : { query: transport.query }
      tabs = await openTabs(browser, {
        baseURL: server.url,
        room,
        count: CONTEXTS,
        nodes: NODES_PER_TAB,
        ...query,
      })
      // the brand-new tab is served before the server stops (the server serves the page too), with no node yet
      ;[newcomer] = await openTabs(browser, { baseURL: server.url, room, count: 1, nodes: 0, ...query })
      await allReady(tabs)
      await expectGraphsConverge(tabs, CONTEXTS * NODES_PER_TAB)
      step('graph formed')
      const signalsAtStop = await Promise.all(tabs.map(signalTotals))

      await server.kill()
      server = undefined
      step('server stopped')

      // a brand-new tab cannot bootstrap: its node cannot start (it never starts a graph of its own) ...
      const newcomerJoin = newcomer!.page.evaluate(() =>
        window.skipmesh.addNode().then(
          () => 'joined',
          (e: Error) => e.name,
        ),
      )
      // (settled when the test ends early and its page closes)
      newcomerJoin.catch(() => {})
      // ... and every tab of the graph says the server is gone
      for (const t of tabs) await expect(t.page.locator('#banner')).toContainText('Lost the signaling server')
      step('banners')

      // searches between nodes already in the graph keep working
      const ids = [...(await realTables(tabs)).keys()]
      await searchSample(tabs, ids, 8)
      step('searches')

      // a node added in an existing tab joins (its first connection signalled in its tab, the rest through the graph)
      const added = await tabs[0]!.page.evaluate(() => window.skipmesh.addNode())
      await expectGraphsConverge(tabs, CONTEXTS * NODES_PER_TAB + 1)
      // the tables can show it linked before it has a connection of its own to another tab: clean-clone run 38 read
      // the links right after the convergence and found only its tab-mate, while the neighbour in another tab showed
      // the link a moment later (its probes and checks of that neighbour are signalled through the graph)
      let after: Awaited<ReturnType<typeof layout>> = { tabOf: new Map(), links: new Map() }
      await expect
        .poll(
          async () => {
            after = await layout(tabs)
            return after.links.get(added)?.some((id) => after.tabOf.get(id) !== 0) ?? false
          },
          { message: 'the added node is connected to a node of another tab', timeout: 20_000 },
        )
        .toBe(true)
      step('added node joined')

      // a NEW connection between two nodes of different tabs already in the graph: the joins connect most pairs of a
      // small graph, so the pair's connection (if any) is closed first and dialled again, through the graph. A pair
      // that are neighbours at no level is taken if there is one: the skip graph does not need their link, nothing
      // else dials it meanwhile
      const tables = await realTables(tabs)
      const neighbours = (a: string, b: string): boolean =>
        [a, b].some((x) =>
          tables.get(x)!.levels.some((l) => l.left === (x === a ? b : a) || l.right === (x === a ? b : a)),
        )
      const pairs = [...after.tabOf].flatMap(([from, tab]) =>
        [...after.tabOf.keys()].filter((to) => after.tabOf.get(to) !== tab).map((to) => ({ from, to, tab })),
      )
      const pair = pairs.find((p) => !neighbours(p.from, p.to)) ?? pairs[0]!
      const page = tabs[pair.tab]!.page
      await page.evaluate(({ from, to }) => window.skipmesh.disconnect(from, to), pair)
      const openedBefore = await page.evaluate(() => window.skipmesh.metrics().connections.opened)
      await page.evaluate(({ from, to }) => window.skipmesh.connect(from, to), pair)
      const linked = await page.evaluate(
        (from) => window.skipmesh.nodes().find((n) => n.id === from)!.connections,
        pair.from,
      )
      expect(linked).toContain(pair.to)
      expect(await page.evaluate(() => window.skipmesh.metrics().connections.opened)).toBeGreaterThan(
        openedBefore,
      )
      step(`new connection (${neighbours(pair.from, pair.to) ? 'neighbours' : 'not neighbours'})`)

      // every new connection after the stop was signalled through the graph (per-node: each is a peer connection; on
      // the shared host the tabs are linked already and a node's new links ride those host links: no signal at all)
      const signalsNow = await Promise.all(tabs.map(signalTotals))
      const overlayAfterStop = signalsNow.reduce((s, x, i) => s + x.overlay - signalsAtStop[i]!.overlay, 0)
      const serverAfterStop = signalsNow.reduce((s, x, i) => s + x.server - signalsAtStop[i]!.server, 0)
      testInfo.annotations.push({
        type: 'signals',
        description: `after the stop: ${overlayAfterStop} through the overlay, ${serverAfterStop} tried at the server`,
      })
      if (transport.name === 'per-node') expect(overlayAfterStop).toBeGreaterThan(0)

      // a graceful leave (of tab 0's first node: the added one stays, so every tab still hosts a node and draws the
      // graph): its neighbours relink, and every picture shows the graph without it
      const leaving = [...after.tabOf].find(([id, tab]) => tab === 0 && id !== added)![0]
      await tabs[0]!.page.evaluate((id) => window.skipmesh.removeNode(id), leaving)
      await expectGraphsConverge(tabs, CONTEXTS * NODES_PER_TAB)
      await searchSample(tabs, [...(await realTables(tabs)).keys()], 4)
      step('graceful leave')

      const refused = await newcomerJoin
      testInfo.annotations.push({ type: 'newcomer', description: `addNode rejected with ${refused}` })
      expect(refused).not.toBe('joined')
      step('newcomer refused')
      await expect(newcomer!.page.locator('#banner')).toBeVisible()
      await expect(newcomer!.page.locator('#banner')).toContainText('Cannot reach the signaling server')
      expect(await newcomer!.page.evaluate(() => window.skipmesh.nodes().length)).toBe(0)
      expect((await newcomer!.page.evaluate(() => window.skipmesh.graph())).nodes).toEqual([])

      await attachScreenshot(tabs[0]!.page, testInfo, 'after-server-stop')
      for (const t of [...tabs, newcomer!]) expect(unexpectedErrors(t), 'console errors').toEqual([])
      console.log(testInfo.annotations.map((a) => a.description).join('\n'))
    } finally {
      await closeAll(newcomer === undefined ? tabs : [...tabs, newcomer])
      await server?.kill()
    }
  })
}
