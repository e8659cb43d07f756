import wrtc from '@roamhq/wrtc'
import { Identifier } from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import { FRAME_MORE } from '../../src/framing.js'
import type { WrtcImplementation } from '../../src/wrtc.js'
import { type HostilePeer, hostilePeer } from '../../test/hostile-peer.js'
import { expect, test } from '../fixtures.js'

const KiB = 1024
const MiB = 1024 * KiB

/**
 * Issue 13, attack 1 against a victim in Chromium: a hostile Node peer (the raw-frame helper of the Node tests, on
 * @roamhq/wrtc) hoards unfinished chunked messages on 8 channels; the page's per-peer budget closes only that
 * connection, with `PeerLimitExceededError`, and counts it.
 */
test.describe('per-peer inbound limits in Chromium', () => {
  let attacker: HostilePeer | undefined
  test.afterEach(async () => {
    await attacker?.stop()
    attacker = undefined
  })

  test('a peer hoarding unfinished chunked messages is closed at maxInboundBytes (inbound-bytes)', async ({
    openPeer,
    signalUrl,
    room,
  }) => {
    const victim = await openPeer()
    const victimId = `f0${randomNonce(31)}`
    await victim.evaluate(
      ([u, r, id, t]) => window.harness.mesh.start('v', { url: u, room: r, id, tuning: t }),
      [signalUrl, room, victimId, { maxMessageSize: MiB, maxInboundBytes: 2 * MiB }] as const,
    )
    attacker = await hostilePeer({
      url: signalUrl,
      room,
      wrtc: wrtc as unknown as WrtcImplementation,
      victim: Identifier.fromHex(victimId),
    })
    const hostile = attacker
    const channels = await Promise.all(Array.from({ length: 8 }, (_, i) => hostile.openChannel(`hoard-${i}`)))
    const chunk = new Uint8Array(16 * KiB)
    chunk[0] = FRAME_MORE
    // 8 channels × 63 chunks ≈ 8 MiB without a per-peer budget; the victim stops it at 2 MiB
    outer: for (let round = 0; round < 63; round++) {
      for (const dc of channels) {
        if (hostile.isClosed() || !hostile.frame(dc, chunk)) break outer
        while (dc.bufferedAmount > 256 * KiB && dc.readyState === 'open') {
          await new Promise<void>((resolve) => setTimeout(resolve, 1))
        }
      }
    }
    await hostile.closed
    await expect
      .poll(() => victim.evaluate(() => window.harness.mesh.closes('v')))
      .toEqual([
        expect.objectContaining({
          reason: 'PeerLimitExceededError',
          detail: expect.stringMatching(/^inbound-bytes/),
        }),
      ])
    const { manager } = await victim.evaluate(() => window.harness.mesh.metrics('v'))
    expect(manager.peerLimitViolations).toBe(1)
  })
})
