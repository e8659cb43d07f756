import { expect, test } from '../fixtures.js'

/**
 * Chromium, relay-only with no ICE server: the offer and answer go through the signaling server, ICE has nothing
 * to check, and the send that dials rejects with `IceConnectionFailedError` within the connect timeout; the
 * answering context counts the failure too.
 */

const CONNECT_TIMEOUT_MS = 4_000

test('a send to a peer that ICE cannot reach rejects with IceConnectionFailedError within the connect timeout', async ({
  openPeer,
  signalUrl,
  room,
}) => {
  const [a, b] = [await openPeer(), await openPeer()]
  const rtc: RTCConfiguration = { iceServers: [], iceTransportPolicy: 'relay' }
  const ids: string[] = []
  for (const page of [a, b]) {
    ids.push(
      await page.evaluate(
        ([url, r, c, t]) =>
          window.harness.mesh.start('n', { url, room: r, rtc: c, tuning: { connectTimeoutMs: t } }),
        [signalUrl, room, rtc, CONNECT_TIMEOUT_MS] as const,
      ),
    )
    await page.evaluate(() => window.harness.mesh.register('n', 'ice'))
  }
  const started = Date.now()
  const err = await a.evaluate(([to]) => window.harness.mesh.trySend('n', 'ice', to, 10), [ids[1]!] as const)
  const elapsed = Date.now() - started
  expect(err?.name).toBe('IceConnectionFailedError')
  expect(err?.message).toContain('relay-only with no ICE servers')
  // the connect timeout, plus slack for a loaded machine
  expect(elapsed).toBeLessThan(CONNECT_TIMEOUT_MS + 5_000)
  await expect
    .poll(
      async () => (await b.evaluate(() => window.harness.mesh.metrics('n'))).manager.iceConnectionFailures,
      {
        timeout: 15_000,
      },
    )
    .toBeGreaterThanOrEqual(1)
  expect(
    (await a.evaluate(() => window.harness.mesh.metrics('n'))).manager.iceConnectionFailures,
  ).toBeGreaterThanOrEqual(1)
})
