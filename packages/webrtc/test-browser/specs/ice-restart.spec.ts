import { issueTurnCredentials, resolveTurnOptions } from '@skipmesh/signaling-server'
import { startTurnServer, type TurnServer } from '../../test/turn-server.js'
import { expect, test } from '../fixtures.js'

/**
 * Chromium, relay only, through a real coturn that is killed and started again on the same port: the initiator
 * restarts ICE and the connection carries on, with every numbered message once and in order.
 */

const SECRET = 'browser-ice-restart-secret'
const WAIT = 60_000

let turn: TurnServer | undefined
test.afterEach(async () => {
  await turn?.stop()
})

test('two Chromium contexts keep their relay-only connection across a coturn restart, losing, duplicating and reordering no message', async ({
  openPeer,
  signalUrl,
  room,
}) => {
  test.setTimeout(150_000)
  turn = await startTurnServer(SECRET)
  const [a, b] = [await openPeer(), await openPeer()]
  const turnOptions = resolveTurnOptions({ urls: [turn.url], secret: SECRET })
  const ids: string[] = []
  for (const [i, page] of [a, b].entries()) {
    const rtc: RTCConfiguration = {
      iceServers: [issueTurnCredentials(turnOptions, `browser-${i}`, Date.now())],
      iceTransportPolicy: 'relay',
    }
    // the restart must complete within heartbeatTimeoutMs of silence
    const tuning = { heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 30_000 }
    ids.push(
      await page.evaluate(
        ([url, r, c, t]) => window.harness.mesh.start('n', { url, room: r, rtc: c, tuning: t }),
        [signalUrl, room, rtc, tuning] as const,
      ),
    )
    await page.evaluate(() => window.harness.mesh.register('n', 'ice'))
  }
  const to = ids[1]!
  const burst = (count: number) =>
    a.evaluate(([t, n]) => window.harness.mesh.burst('n', 'ice', t, n, 64), [to, count] as const)
  // 500 over the working relay, delivered
  expect(await burst(500)).toEqual([])
  await b.evaluate((w) => window.harness.mesh.waitFor('n', 'ice', 500, w), WAIT)
  const port = turn.port
  await turn.stop()
  // 1,000 more while the relay is gone (queued)
  const during = burst(1_000)
  const restarts = async () => {
    let sum = 0
    for (const page of [a, b])
      sum += (await page.evaluate(() => window.harness.mesh.metrics('n'))).manager.iceRestarts
    return sum
  }
  await expect.poll(restarts, { timeout: WAIT }).toBeGreaterThanOrEqual(1)
  turn = await startTurnServer(SECRET, { port })
  expect(await during).toEqual([])
  expect(await burst(500)).toEqual([])
  await b.evaluate((w) => window.harness.mesh.waitFor('n', 'ice', 2_000, w), WAIT)
  const seqs = (await b.evaluate(() => window.harness.mesh.received('n', 'ice'))).map((r) => r.seq)
  const run = (n: number) => Array.from({ length: n }, (_, i) => i)
  expect(seqs).toEqual([...run(500), ...run(1_000), ...run(500)])
  for (const page of [a, b]) {
    expect(await page.evaluate(() => window.harness.mesh.closes('n'))).toEqual([])
    expect((await page.evaluate(() => window.harness.mesh.connections('n'))).map((c) => c.status)).toEqual([
      'open',
    ])
  }
})
