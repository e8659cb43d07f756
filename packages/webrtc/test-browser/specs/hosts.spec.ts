import { expect, test } from '../fixtures.js'

/**
 * Many nodes per tab (`createWebRtcHost`): two browser contexts with four nodes each share ONE RTCPeerConnection
 * between them; every node reaches every other node (in memory within a tab, over that connection across), and
 * requests work both ways.
 */

const NODES = 4
const WAIT = 30_000

test('two tabs of four nodes each talk over one RTCPeerConnection per tab pair', async ({
  openPeer,
  signalUrl,
  room,
}) => {
  const pages = [await openPeer(), await openPeer()]
  const ids: string[][] = []
  for (const page of pages) {
    ids.push(
      await page.evaluate(([u, r, n]) => window.harness.hosts.start(u, r, n), [
        signalUrl,
        room,
        NODES,
      ] as const),
    )
  }
  const all = ids.flat()
  await Promise.all(pages.map((p) => p.evaluate((targets) => window.harness.hosts.sendAll(targets), all)))
  // each node receives one message from each of the 7 other nodes
  for (const page of pages) {
    await page.evaluate(([n, w]) => window.harness.hosts.waitFor(n, w), [
      NODES * (all.length - 1),
      WAIT,
    ] as const)
  }
  for (const [p, page] of pages.entries()) {
    const received = await page.evaluate(() => window.harness.hosts.received())
    for (const [i, got] of received.entries()) {
      const me = ids[p]![i]!
      const expected = all.filter((id) => id !== me).map((id) => `${id}->${me}`)
      expect([...got].sort()).toEqual(expected.sort())
    }
  }
  const [a, b] = pages as [(typeof pages)[0], (typeof pages)[0]]
  const far = await a.evaluate((to) => window.harness.hosts.request(0, to), ids[1]![2]!)
  expect(far).toBe(`ping at 2 from ${ids[0]![0]!.slice(0, 8)}`)
  const near = await b.evaluate((to) => window.harness.hosts.request(1, to), ids[1]![3]!)
  expect(near).toBe(`ping at 3 from ${ids[1]![1]!.slice(0, 8)}`)
  for (const page of pages) {
    const m = await page.evaluate(() => window.harness.hosts.metrics())
    expect(m).toMatchObject({ constructed: 1, peerConnectionsCreated: 1, hostLinks: 1, rejectedFrames: 0 })
    expect(m.virtualOpen).toBe(NODES * (all.length - 1))
    expect(m.virtualLocal).toBe(NODES * (NODES - 1))
  }
  await Promise.all(pages.map((p) => p.evaluate(() => window.harness.hosts.stop())))
})
