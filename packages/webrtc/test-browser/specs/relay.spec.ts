import { issueTurnCredentials, resolveTurnOptions } from '@skipmesh/signaling-server'
import type { Page } from '@playwright/test'
import { startTurnServer, type TurnServer } from '../../test/turn-server.js'
import { expect, test } from '../fixtures.js'

/**
 * Chromium through a real coturn, relay only (`iceTransportPolicy: 'relay'`), with TURN REST credentials: the
 * connection's selected candidate pair, read from `getStats()` of every RTCPeerConnection the page made, is a
 * relay pair on both sides.
 */

const SECRET = 'browser-relay-secret'
const WAIT = 20_000

let turn: TurnServer
test.beforeAll(async () => {
  turn = await startTurnServer(SECRET)
})
test.afterAll(async () => {
  await turn?.stop()
})

/** Makes the page keep every RTCPeerConnection it constructs in `window.__pcs` (reloads it to install that). */
async function recordPeerConnections(page: Page): Promise<void> {
  await page.context().addInitScript(() => {
    const Native = window.RTCPeerConnection
    const made: RTCPeerConnection[] = []
    ;(window as unknown as { __pcs: RTCPeerConnection[] }).__pcs = made
    window.RTCPeerConnection = class extends Native {
      constructor(config?: RTCConfiguration) {
        super(config)
        made.push(this)
      }
    } as typeof RTCPeerConnection
  })
  await page.reload()
  await page.waitForFunction(() => window.harness !== undefined)
}

/** The candidate types of the selected pair of each RTCPeerConnection the page made. */
function selectedPairs(
  page: Page,
): Promise<Array<{ local: string | undefined; remote: string | undefined }>> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs
    const out: Array<{ local: string | undefined; remote: string | undefined }> = []
    for (const pc of pcs) {
      const byId = new Map<string, Record<string, unknown>>()
      ;(await pc.getStats()).forEach((s: Record<string, unknown>) => {
        byId.set(s.id as string, s)
      })
      let pairId: string | undefined
      for (const s of byId.values()) {
        if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string')
          pairId = s.selectedCandidatePairId
      }
      const pair = pairId === undefined ? undefined : byId.get(pairId)
      const type = (id: unknown) => byId.get(id as string)?.candidateType as string | undefined
      out.push({ local: type(pair?.localCandidateId), remote: type(pair?.remoteCandidateId) })
    }
    return out
  })
}

test('two Chromium contexts exchange messages over a relay-only candidate pair', async ({
  openPeer,
  signalUrl,
  room,
}) => {
  const [a, b] = [await openPeer(), await openPeer()]
  const turnOptions = resolveTurnOptions({ urls: [turn.url], secret: SECRET })
  const ids: string[] = []
  for (const [i, page] of [a, b].entries()) {
    await recordPeerConnections(page)
    const rtc: RTCConfiguration = {
      iceServers: [issueTurnCredentials(turnOptions, `browser-${i}`, Date.now())],
      iceTransportPolicy: 'relay',
    }
    ids.push(
      await page.evaluate(([url, r, c]) => window.harness.mesh.start('n', { url, room: r, rtc: c }), [
        signalUrl,
        room,
        rtc,
      ] as const),
    )
    await page.evaluate(() => window.harness.mesh.register('n', 'relay'))
  }
  const sent = await a.evaluate(
    async ([to]) => [
      await window.harness.mesh.send('n', 'relay', to, { size: 10, seed: 1 }),
      await window.harness.mesh.send('n', 'relay', to, { size: 100_000, seed: 2 }),
    ],
    [ids[1]!] as const,
  )
  await b.evaluate((w) => window.harness.mesh.waitFor('n', 'relay', 2, w), WAIT)
  const got = await b.evaluate(() => window.harness.mesh.received('n', 'relay'))
  expect(got.map((r) => r.sha256)).toEqual(sent)
  for (const page of [a, b]) {
    const pairs = await selectedPairs(page)
    expect(pairs.length).toBe(1)
    expect(pairs[0]).toEqual({ local: 'relay', remote: 'relay' })
  }
})
