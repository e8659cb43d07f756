import { budgetCases, connectionManagerCases } from '@skipmesh/core/testing/cases'
import type { Page } from '@playwright/test'
import { expect, test } from '../fixtures.js'

/** Core's compliance cases the harness runs: the ConnectionManager ones, then the connection-budget ones. */
const cases = [...connectionManagerCases, ...budgetCases]

/**
 * Core's ConnectionManager and connection-budget compliance cases in real Chromium. Each case runs in page A;
 * its fixture makes every other manager in page B (another browser context) and hands page A a proxy of it, so
 * every pair the case connects spans two contexts over real WebRTC and the real signaling server.
 */
async function wire(a: Page, b: Page): Promise<void> {
  await a.exposeBinding('__remoteCall', (_source, op: string, args: Record<string, unknown>) =>
    b.evaluate(([o, x]) => window.harness.remoteHost().handle(o, x), [op, args] as const),
  )
  await b.exposeBinding(
    '__remoteEvents',
    (_source, events: Parameters<Window['harness']['remoteEvents']>[0]) =>
      a.evaluate((e) => window.harness.remoteEvents(e), events),
  )
}

test.describe('ConnectionManager compliance across two browser contexts', () => {
  for (const complianceCase of cases) {
    test(complianceCase.name, async ({ openPeer, signalUrl, room }) => {
      const [a, b] = [await openPeer(), await openPeer()]
      await wire(a, b)
      const outcome = await a.evaluate(([name, setup]) => window.harness.runCase(name, setup), [
        complianceCase.name,
        { url: signalUrl, room },
      ] as const)
      expect(outcome, JSON.stringify(outcome)).toMatchObject({ ok: true })
      // the pairs really spanned both contexts
      expect(outcome.where).toContain('A')
      if (outcome.where.length > 1) expect(outcome.where).toContain('B')
    })
  }

  test('the harness runs every compliance case core ships', async ({ openPeer }) => {
    const a = await openPeer()
    const inPage = await a.evaluate(() => window.harness.caseNames())
    expect(inPage).toEqual(cases.map((c) => c.name))
  })
})
