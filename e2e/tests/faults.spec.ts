import { expect, test } from '@playwright/test'
import { contextOptions } from '../../scripts/chromium.mjs'
import {
  type NodeTable,
  type ServerProcess,
  type Tab,
  allReady,
  attachScreenshot,
  closeAll,
  drawnRoute,
  expectGraphsConverge,
  freePort,
  openTabs,
  realTables,
  searchMany,
  startServer,
  uniqueRoom,
} from './helpers.js'

/** The bits of a membership vector given as hex. */
function bits(hex: string): string {
  let out = ''
  for (const ch of hex) out += Number.parseInt(ch, 16).toString(2).padStart(4, '0')
  return out
}

/**
 * Why `tables` (every live node's) are not a correct skip graph, or undefined: at every level, each node's
 * left and right are its neighbours in the sorted list of the nodes sharing that many membership-vector bits,
 * and no entry is marked dead.
 */
function skipGraphProblem(tables: ReadonlyMap<string, NodeTable>): string | undefined {
  const ids = [...tables.keys()].sort()
  const mv = new Map(ids.map((id) => [id, bits(tables.get(id)!.mv)]))
  const top = Math.max(...ids.map((id) => tables.get(id)!.levels.length))
  for (const id of ids) {
    const t = tables.get(id)!
    for (let level = 0; level < top; level++) {
      const prefix = mv.get(id)!.slice(0, level)
      const list = ids.filter((x) => mv.get(x)!.startsWith(prefix))
      const at = list.indexOf(id)
      const want = { left: list[at - 1] ?? null, right: list[at + 1] ?? null }
      const l = t.levels[level]
      const got = { left: l?.left ?? null, right: l?.right ?? null }
      if (l?.leftDead === true || l?.rightDead === true)
        return `${id.slice(0, 8)} has a dead entry at level ${level}`
      if (got.left !== want.left || got.right !== want.right)
        return `level ${level} of ${id.slice(0, 8)} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`
    }
  }
  return undefined
}

test('a browser context closed mid-run disappears from every picture and searches still find live nodes', async ({
  browser,
  baseURL,
}, testInfo) => {
  let tabs: Tab[] = []
  try {
    tabs = await openTabs(browser, { baseURL: baseURL!, room: uniqueRoom('crash'), count: 8, nodes: 1 })
    await allReady(tabs)
    await expectGraphsConverge(tabs, 8)
    const before = await realTables(tabs)

    // searches are in flight in the survivors while two contexts close without leaving
    // the victims hold the 3rd and 6th smallest ids, so that many searches must get past them
    const hosted = await Promise.all(
      tabs.map(async (t) => (await t.page.evaluate(() => window.skipmesh.nodes()))[0]!.id),
    )
    const sorted = [...hosted].sort()
    const victimA = tabs[hosted.indexOf(sorted[2]!)]!
    const victimB = tabs[hosted.indexOf(sorted[5]!)]!
    const gone = new Set<string>()
    for (const v of [victimA, victimB])
      for (const n of await v.page.evaluate(() => window.skipmesh.nodes())) gone.add(n.id)
    const survivors = tabs.filter((t) => t !== victimA && t !== victimB)
    const liveIds = [...before.keys()].filter((id) => !gone.has(id))
    const inFlight = survivors.map(async (t) => {
      const [from] = await t.page.evaluate(() => window.skipmesh.nodes().map((n) => n.id))
      return searchMany(
        t,
        liveIds.map((target) => ({ from: from!, target })),
      )
    })
    await Promise.all([victimA.context.close(), victimB.context.close()])
    await Promise.allSettled(inFlight) // searches racing the crash may fail with a typed error: allowed

    // every survivor drops the closed contexts' nodes from its picture
    for (const t of survivors) {
      await expect
        .poll(
          async () => {
            const snap = await t.page.evaluate(() => window.skipmesh.refresh())
            const drawn = snap.nodes.map((n) => n.id)
            // the transport noticed too (heartbeat): no connection to a closed context is left open
            const open = (await t.page.evaluate(() => window.skipmesh.nodes())).flatMap((n) => n.connections)
            return {
              stillDrawn: drawn.filter((id) => gone.has(id)),
              goneListed: [...gone].every((id) => snap.gone.includes(id)),
              openToGone: open.filter((id) => gone.has(id)),
            }
          },
          { timeout: 45_000 },
        )
        .toEqual({ stillDrawn: [], goneListed: true, openToGone: [] })
      await expect(t.page.locator(`svg#graph g.node[data-id="${[...gone][0]}"]`)).toHaveCount(0)
    }

    // @skipmesh/skipgraph repairs the lists around a crashed node (a failed send or a probe marks it dead, then
    // the neighbours relink): every survivor's table becomes exactly the skip graph of the live nodes
    await expect
      .poll(async () => skipGraphProblem(await realTables(survivors)) ?? 'repaired', {
        timeout: 45_000,
        intervals: [250, 500, 1000],
      })
      .toBe('repaired')

    // Then EVERY search for a live target, from every survivor, finds it: never an error, never a wrong
    // answer, never a hop at a closed node.
    const tally = { crossing: 0, crossingFound: 0, clear: 0, detours: 0 }
    let detoured: { tab: Tab; from: string; target: string; detours: number } | undefined
    for (const t of survivors) {
      const [from] = await t.page.evaluate(() => window.skipmesh.nodes().map((n) => n.id))
      const traces = await searchMany(
        t,
        liveIds.map((target) => ({ from: from!, target })),
      )
      for (const tr of traces) {
        const where = `search ${tr.target.slice(0, 8)} from ${tr.from.slice(0, 8)}`
        const [lo, hi] = tr.from < tr.target ? [tr.from, tr.target] : [tr.target, tr.from]
        const crossing = [...gone].some((id) => id > lo && id < hi)
        if (crossing) tally.crossing++
        else tally.clear++
        expect(tr.error, where).toBeNull()
        expect(tr.result, where).toBe(tr.target)
        expect(tr.found, where).toBe(true)
        if (crossing) tally.crossingFound++
        const detours = tr.hops.filter((h) => h.detour).length
        if (detours > 0) {
          tally.detours++
          detoured ??= { tab: t, from: tr.from, target: tr.target, detours }
        }
        for (const hop of tr.hops) expect(gone.has(hop.node), `${where}: no hop at a closed node`).toBe(false)
      }
    }
    expect(tally.clear).toBeGreaterThan(0)
    expect(tally.crossing).toBeGreaterThan(0)
    const summary = `searches after the crash and the repair: ${tally.clear} with no closed node in between and ${tally.crossingFound}/${tally.crossing} across a closed node, all found (${tally.detours} marked as routed around a dead neighbour)`
    console.log(summary)
    await testInfo.attach('searches-after-crash', { body: summary, contentType: 'text/plain' })
    // a route that went around a dead neighbour is drawn so (when one happened in this run)
    const shown = detoured?.tab ?? survivors[0]!
    const [from] = await shown.page.evaluate(() => window.skipmesh.nodes().map((n) => n.id))
    const again = detoured ?? { from: from!, target: liveIds.find((id) => id !== from)!, detours: 0 }
    const trace = await shown.page.evaluate(([f, t]) => window.skipmesh.search(f, t), [
      again.from,
      again.target,
    ] as const)
    await drawnRoute(shown.page, trace.seq)
    await expect(shown.page.locator('svg#graph #route g.hop.detour')).toHaveCount(
      trace.hops.filter((h) => h.detour).length,
    )
    await expect(shown.page.locator('#log')).toContainText('gone')
    await attachScreenshot(shown.page, testInfo, 'after-crash')
  } finally {
    await closeAll(tabs)
  }
})

test('when the signaling server is killed and restarted, open data channels keep delivering and a new context joins', async ({
  browser,
}, testInfo) => {
  const port = await freePort()
  let server: ServerProcess | undefined = await startServer(port)
  let tabs: Tab[] = []
  try {
    const room = uniqueRoom('restart')
    tabs = await openTabs(browser, { baseURL: server.url, room, count: 4, nodes: 1 })
    await allReady(tabs)
    await expectGraphsConverge(tabs, 4)
    const ids = [...(await realTables(tabs)).keys()]

    await server.kill()
    server = undefined
    // every tab notices and says so
    for (const t of tabs) {
      await expect(t.page.locator('#banner')).toContainText('signaling server')
    }

    // over the data channels that were already open: every node still finds every other node
    for (const t of tabs) {
      const [from] = await t.page.evaluate(() => window.skipmesh.nodes().map((n) => n.id))
      const traces = await searchMany(
        t,
        ids.map((target) => ({ from: from!, target })),
      )
      for (const tr of traces) {
        expect(
          tr.error,
          `search ${tr.target.slice(0, 8)} from ${tr.from.slice(0, 8)} without signaling`,
        ).toBeNull()
        expect(tr.result).toBe(tr.target)
      }
    }
    // the pictures stay whole while the server is away
    await expectGraphsConverge(tabs, 4)

    server = await startServer(port)
    // the nodes rejoin the room by themselves (the banner goes away); only then can a newcomer find them
    for (const t of tabs) {
      await expect
        .poll(() => t.page.evaluate(() => window.skipmesh.problem()), { timeout: 60_000 })
        .toBeNull()
    }
    const [late] = await openTabs(browser, { baseURL: server.url, room, count: 1, nodes: 1 })
    tabs.push(late!)
    await late!.page.evaluate(() => window.skipmesh.ready())
    await expectGraphsConverge(tabs, 5, 90_000)

    const lateId = (await late!.page.evaluate(() => window.skipmesh.nodes()))[0]!.id
    for (const t of tabs) {
      const [from] = await t.page.evaluate(() => window.skipmesh.nodes().map((n) => n.id))
      const [tr] = await searchMany(t, [{ from: from!, target: lateId }])
      expect(tr!.error).toBeNull()
      expect(tr!.result).toBe(lateId)
    }
    await attachScreenshot(late!.page, testInfo, 'after-restart')
  } finally {
    await closeAll(tabs)
    await server?.kill()
  }
})

test('the page says so when the signaling server is unreachable', async ({ browser }) => {
  const port = await freePort()
  const server = await startServer(port)
  const context = await browser.newContext(contextOptions)
  try {
    const page = await context.newPage()
    // the page is served, then the server goes away before the node joins
    await page.goto(`${server.url}/?nodes=0`)
    await server.kill()
    await page.evaluate(() => window.skipmesh.addNode().catch(() => {}))
    await expect(page.locator('#banner')).toBeVisible()
    await expect(page.locator('#banner')).toContainText('signaling server')
    expect(await page.evaluate(() => window.skipmesh.problem())).toContain('signaling server')
  } finally {
    await context.close()
    await server.kill()
  }
})
