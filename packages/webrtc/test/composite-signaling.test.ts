import { channel } from '@skipmesh/core'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../../../scripts/free-port.mjs'
import { createCompositeSignaling } from '../src/composite-signaling.js'
import { createWebRtcConnectionManager, type WebRtcConnectionManager } from '../src/manager.js'
import { createOverlaySignaling } from '../src/overlay-signaling.js'
import { createSignalingClient } from '../src/signaling-client.js'
import { collectMessages, implementations, nextConnection } from './helpers.js'
import { overlayIdentity, TestRelays } from './overlay-helpers.js'

const CH = channel('composite-test')
const impl = implementations['node-datachannel']

/** A loopback URL nobody listens on (the signaling server is down). */
async function deadServerUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`
}

describe('composite signaling without the server', () => {
  const made: WebRtcConnectionManager[] = []
  afterEach(async () => {
    await Promise.all(made.splice(0).map((m) => m.stop()))
  })

  /**
   * An unstarted manager whose composite has an unreachable server (1 s join timeout) and an overlay that is
   * attached to `relays`, or has no relay at all.
   */
  async function unstarted(
    url: string,
    relays: TestRelays,
    options: { attach: boolean; serverWaitMs?: number },
  ): Promise<WebRtcConnectionManager> {
    const attached = await overlayIdentity(relays)
    const { id, keyPair } = attached
    const overlay = options.attach ? attached.overlay : createOverlaySignaling({ localId: id, keyPair })
    const m = createWebRtcConnectionManager({
      localId: id,
      keyPair,
      signaling: createCompositeSignaling({
        server: createSignalingClient({ url, room: 'down', localId: id, keyPair, joinTimeoutMs: 1_000 }),
        overlay,
        ...(options.serverWaitMs === undefined ? {} : { serverWaitMs: options.serverWaitMs }),
      }),
      rtc: { iceServers: [] },
      wrtc: impl(),
    })
    made.push(m)
    return m
  }

  it('is ready on the overlay alone once the server failed to join, and connects over it', async () => {
    const url = await deadServerUrl()
    const relays = new TestRelays()
    const a = await unstarted(url, relays, { attach: true })
    const b = await unstarted(url, relays, { attach: true })
    for (const m of [a, b]) m.start()
    await Promise.all([a.ready(), b.ready()])
    expect(a.peers()).toEqual([])
    const incoming = nextConnection(b)
    const ab = await a.connect(b.localId, { signal: AbortSignal.timeout(20_000) })
    const ba = await incoming
    const got = collectMessages(ba, 1)
    await ab.send(CH, new TextEncoder().encode('no server'))
    expect(new TextDecoder().decode((await got.done)[0]!.bytes)).toBe('no server')
    for (const m of [a, b]) {
      expect(m.metrics()).toMatchObject({ serverSignalsSent: 0, serverSignalsReceived: 0 })
      expect(m.metrics().overlaySignalsReceived).toBeGreaterThan(0)
    }
  })

  it('with serverWaitMs 0 is ready as soon as a relay is attached, before the server could answer', async () => {
    const url = await deadServerUrl()
    const relays = new TestRelays()
    const a = await unstarted(url, relays, { attach: true, serverWaitMs: 0 })
    const t0 = performance.now()
    a.start()
    await a.ready()
    // the server's join timeout is 1 s: ready well before it ran out
    expect(performance.now() - t0).toBeLessThan(1_000)
  })

  it('fails to start when the server cannot be joined and no relay is attached', async () => {
    const url = await deadServerUrl()
    const a = await unstarted(url, new TestRelays(), { attach: false, serverWaitMs: 0 })
    a.start()
    await expect(a.signaling.ready()).rejects.toMatchObject({ name: 'SignalingUnavailableError' })
    await expect(a.ready()).rejects.toThrow()
  })

  it('rejects a negative serverWaitMs', async () => {
    const relays = new TestRelays()
    const { id, keyPair, overlay } = await overlayIdentity(relays)
    const server = createSignalingClient({ url: 'http://127.0.0.1:1', room: 'r', localId: id, keyPair })
    expect(() => createCompositeSignaling({ server, overlay, serverWaitMs: -1 })).toThrow(
      expect.objectContaining({ name: 'InvalidOptionsError' }),
    )
  })
})
