import * as ndc from 'node-datachannel/polyfill'
import wrtc from '@roamhq/wrtc'
import { nodeDatachannelWrtc, type WrtcImplementation } from '@skipmesh/webrtc'
import type { Page } from '@playwright/test'
import { expect, test } from '../fixtures.js'
import { createMesh } from '../harness/src/mesh.js'

/**
 * DefaultNetwork (`createNetwork`) over the WebRTC ConnectionManager: routing by channel and concurrent sends,
 * browser↔browser (separate browser contexts) and browser↔Node (the Node peer runs in this test process).
 */

const WAIT = 20_000

async function startPeer(page: Page, url: string, room: string): Promise<string> {
  return page.evaluate(([u, r]) => window.harness.mesh.start('n', { url: u, room: r }), [url, room] as const)
}

test.describe('DefaultNetwork over WebRTC, browser ↔ browser', () => {
  test('routes each message only to the processor of its channel, with payload and metadata intact', async ({
    openPeer,
    signalUrl,
    room,
  }) => {
    const [a, b] = [await openPeer(), await openPeer()]
    const [idA, idB] = [await startPeer(a, signalUrl, room), await startPeer(b, signalUrl, room)]
    for (const page of [a, b]) {
      await page.evaluate(async () => {
        await window.harness.mesh.register('n', 'alpha')
        await window.harness.mesh.register('n', 'beta')
      })
    }
    const sent = await a.evaluate(
      async ([to]) => {
        const m = window.harness.mesh
        const alpha = [await m.send('n', 'alpha', to, { size: 10, seed: 1, metadata: { k: 'a1' } })]
        alpha.push(await m.send('n', 'alpha', to, { size: 70_000, seed: 2, metadata: { k: 'a2' } }))
        const beta = [await m.send('n', 'beta', to, { size: 3, seed: 3, metadata: { k: 'b1' } })]
        return { alpha, beta }
      },
      [idB] as const,
    )
    await b.evaluate((w) => window.harness.mesh.waitFor('n', 'alpha', 2, w), WAIT)
    await b.evaluate((w) => window.harness.mesh.waitFor('n', 'beta', 1, w), WAIT)
    const atB = await b.evaluate(async () => ({
      alpha: await window.harness.mesh.received('n', 'alpha'),
      beta: await window.harness.mesh.received('n', 'beta'),
    }))
    expect(atB.alpha.map((r) => r.sha256)).toEqual(sent.alpha)
    expect(atB.alpha.map((r) => r.metadata)).toEqual([{ k: 'a1' }, { k: 'a2' }])
    expect(atB.beta.map((r) => r.sha256)).toEqual(sent.beta)
    expect(atB.beta.map((r) => r.metadata)).toEqual([{ k: 'b1' }])
    expect([...atB.alpha, ...atB.beta].every((r) => r.origin === idA)).toBe(true)

    // and back, on one channel only
    const reply = await b.evaluate(
      ([to]) => window.harness.mesh.send('n', 'beta', to, { size: 5, seed: 9 }),
      [idA] as const,
    )
    await a.evaluate((w) => window.harness.mesh.waitFor('n', 'beta', 1, w), WAIT)
    const atA = await a.evaluate(async () => ({
      alpha: await window.harness.mesh.received('n', 'alpha'),
      beta: await window.harness.mesh.received('n', 'beta'),
    }))
    expect(atA.alpha).toEqual([])
    expect(atA.beta.map((r) => [r.sha256, r.origin])).toEqual([[reply, idB]])
  })

  test('concurrent sends from two contexts to a third, and a broadcast back, all arrive in order per sender', async ({
    openPeer,
    signalUrl,
    room,
  }) => {
    const pages = [await openPeer(), await openPeer(), await openPeer()]
    const ids = await Promise.all(pages.map((p) => startPeer(p, signalUrl, room)))
    const [a, hub, c] = pages as [Page, Page, Page]
    const [idA, idHub, idC] = ids as [string, string, string]
    for (const page of pages)
      await page.evaluate(() => window.harness.mesh.register('n', 'load', { hash: false }))
    const count = 1000
    const errors = await Promise.all(
      [a, c].map((p) =>
        p.evaluate(([to, n]) => window.harness.mesh.burst('n', 'load', to, n, 1024), [idHub, count] as const),
      ),
    )
    expect(errors).toEqual([[], []])
    await hub.evaluate(([n, w]) => window.harness.mesh.waitFor('n', 'load', n, w), [2 * count, WAIT] as const)
    const summary = await hub.evaluate(() => window.harness.mesh.summary('n', 'load'))
    expect(summary).toEqual({ count: 2 * count, inOrder: true, origins: { [idA]: count, [idC]: count } })

    const oks = await hub.evaluate(([to]) => window.harness.mesh.broadcast('n', 'load', to, 512), [
      [idA, idC],
    ] as [string[]])
    expect(oks).toEqual([true, true])
    for (const p of [a, c]) {
      await p.evaluate((w) => window.harness.mesh.waitFor('n', 'load', 1, w), WAIT)
      const got = await p.evaluate(() => window.harness.mesh.summary('n', 'load'))
      expect(got.origins).toEqual({ [idHub]: 1 })
    }
  })
})

const NODE_IMPLEMENTATIONS: Array<[string, () => WrtcImplementation]> = [
  ['node-datachannel', () => nodeDatachannelWrtc(ndc)],
  ['@roamhq/wrtc', () => wrtc as unknown as WrtcImplementation],
]

test.describe('DefaultNetwork over WebRTC, browser ↔ Node', () => {
  for (const [implName, impl] of NODE_IMPLEMENTATIONS) {
    test(`routes by channel and carries concurrent sends both ways with a Node peer on ${implName}`, async ({
      openPeer,
      signalUrl,
      room,
    }) => {
      const nodeSide = createMesh({ wrtc: impl() })
      try {
        const page = await openPeer()
        const idNode = await nodeSide.start('n', { url: signalUrl, room })
        const idPage = await startPeer(page, signalUrl, room)
        await nodeSide.register('n', 'alpha', { hash: false })
        await nodeSide.register('n', 'beta', { hash: false })
        await page.evaluate(async () => {
          await window.harness.mesh.register('n', 'alpha', { hash: false })
          await window.harness.mesh.register('n', 'beta', { hash: false })
        })
        const count = 500
        // both directions, two channels each, all at once
        const [pageErrors, nodeErrors] = await Promise.all([
          page.evaluate(
            ([to, n]) =>
              Promise.all([
                window.harness.mesh.burst('n', 'alpha', to, n, 2048),
                window.harness.mesh.burst('n', 'beta', to, n, 100),
              ]),
            [idNode, count] as const,
          ),
          Promise.all([
            nodeSide.burst('n', 'alpha', idPage, count, 2048),
            nodeSide.burst('n', 'beta', idPage, count, 100),
          ]),
        ])
        expect(pageErrors).toEqual([[], []])
        expect(nodeErrors).toEqual([[], []])
        await nodeSide.waitFor('n', 'alpha', count, WAIT)
        await nodeSide.waitFor('n', 'beta', count, WAIT)
        await page.evaluate(
          async ([n, w]) => {
            await window.harness.mesh.waitFor('n', 'alpha', n, w)
            await window.harness.mesh.waitFor('n', 'beta', n, w)
          },
          [count, WAIT] as const,
        )
        for (const ch of ['alpha', 'beta']) {
          expect(nodeSide.summary('n', ch)).toEqual({ count, inOrder: true, origins: { [idPage]: count } })
          const inPage = await page.evaluate((c) => window.harness.mesh.summary('n', c), ch)
          expect(inPage).toEqual({ count, inOrder: true, origins: { [idNode]: count } })
        }
        const sizes = (await nodeSide.received('n', 'alpha')).map((r) => r.size)
        expect(new Set(sizes)).toEqual(new Set([2048]))
      } finally {
        await nodeSide.stop('n')
      }
    })
  }
})
