import { expect, test } from '../fixtures.js'

/**
 * Chromium: two contexts that require every remote to prove its identity (hellos signed with WebCrypto's Ed25519
 * over Chromium's own DTLS fingerprints) connect and deliver, and neither refuses the other.
 */

test('two contexts that require signed hellos connect and deliver, refusing nobody', async ({
  openPeer,
  signalUrl,
  room,
}) => {
  const [a, b] = [await openPeer(), await openPeer()]
  // the harness passes `tuning` to the manager's options as they are
  const tuning = { peerAuthentication: 'required' } as unknown as Record<string, number>
  const ids: string[] = []
  for (const page of [a, b]) {
    ids.push(
      await page.evaluate(([url, r, t]) => window.harness.mesh.start('n', { url, room: r, tuning: t }), [
        signalUrl,
        room,
        tuning,
      ] as const),
    )
    await page.evaluate(() => window.harness.mesh.register('n', 'id'))
  }
  const err = await a.evaluate(([to]) => window.harness.mesh.trySend('n', 'id', to, 10), [ids[1]!] as const)
  expect(err).toBeNull()
  for (const page of [a, b]) {
    await expect
      .poll(
        async () => (await page.evaluate(() => window.harness.mesh.metrics('n'))).manager.connectionsOpened,
        {
          timeout: 15_000,
        },
      )
      .toBe(1)
    const { manager } = await page.evaluate(() => window.harness.mesh.metrics('n'))
    expect(manager.peerAuthFailures).toBe(0)
  }
})
