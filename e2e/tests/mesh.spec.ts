import { expect, test } from '@playwright/test'
import {
  type Tab,
  allReady,
  attachScreenshot,
  closeAll,
  drawnRoute,
  expectGraphsConverge,
  expectNoConsoleErrors,
  openTabs,
  realTables,
  searchEverywhere,
  uniqueRoom,
} from './helpers.js'

for (const shape of [
  { contexts: 8, nodes: 1 },
  { contexts: 2, nodes: 8 },
]) {
  const total = shape.contexts * shape.nodes
  test(`${shape.contexts} browser contexts × ${shape.nodes} node${shape.nodes > 1 ? 's' : ''} join one skip graph, draw it and route exact searches`, async ({
    browser,
    baseURL,
  }, testInfo) => {
    let tabs: Tab[] = []
    try {
      tabs = await openTabs(browser, {
        baseURL: baseURL!,
        room: uniqueRoom(`mesh${shape.contexts}x${shape.nodes}`),
        count: shape.contexts,
        nodes: shape.nodes,
      })
      await allReady(tabs)

      // every tab draws the union of the real lookup tables (API and SVG)
      await expectGraphsConverge(tabs, total)
      const real = await realTables(tabs)
      const ids = [...real.keys()]

      // every node: 10 present and 5 absent ids, each result equal to the oracle
      const traces = await searchEverywhere(tabs, ids)
      expect(traces).toHaveLength(total * 15)

      // a route drawn hop by hop: the highlighted hops are the trace's, in order
      const tab = tabs[0]!
      const [from] = await tab.page.evaluate(() => window.skipmesh.nodes().map((n) => n.id))
      // the node farthest from `from`, for a route with several hops
      const sorted = [...ids].sort()
      const target = sorted[0] === from ? sorted.at(-1)! : sorted[0]!
      const trace = await tab.page.evaluate(([f, t]) => window.skipmesh.search(f!, t!), [
        from,
        target,
      ] as const)
      const drawn = await drawnRoute(tab.page, trace.seq)
      expect(drawn).toEqual(trace.hops.map((h, index) => ({ index, node: h.node, level: h.level })))
      await expect(tab.page.locator('#search-result')).toContainText(`${trace.hops.length} hops`)
      await attachScreenshot(tab.page, testInfo, 'route')

      // replay from the history redraws the same route
      await tab.page.locator(`#history li[data-seq="${trace.seq}"]`).click()
      expect(await drawnRoute(tab.page, trace.seq)).toEqual(drawn)

      // metrics show traffic on the skip-graph and describe channels
      const metrics = await tab.page.evaluate(() => window.skipmesh.metrics())
      expect(metrics.channels['demo.graph']?.messagesReceived ?? 0).toBeGreaterThan(0)
      expect(metrics.connections.active).toBeGreaterThan(0)

      if (shape.nodes > 1) {
        // a node leaves gracefully and disappears from both pictures; the "+ node" button adds one that appears
        const [leaving] = await tabs[1]!.page.evaluate(() => window.skipmesh.nodes().map((n) => n.id))
        await tabs[1]!.page.evaluate((id) => window.skipmesh.removeNode(id!), leaving)
        await expectGraphsConverge(tabs, total - 1)
        await expect(tabs[0]!.page.locator(`svg#graph g.node[data-id="${leaving}"]`)).toHaveCount(0)
        await tabs[0]!.page.locator('#add-node').click()
        await expect
          .poll(() => tabs[0]!.page.evaluate(() => window.skipmesh.nodes().filter((n) => n.joined).length))
          .toBe(shape.nodes + 1)
        await expectGraphsConverge(tabs, total)
      }

      expectNoConsoleErrors(tabs)
    } finally {
      await closeAll(tabs)
    }
  })
}
