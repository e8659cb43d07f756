import { ConnectionFailedError, channel } from '@skipmesh/core'
import type { SignalingServer } from '@skipmesh/signaling-server'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createCompositeSignaling } from '../src/composite-signaling.js'
import { createWebRtcConnectionManager, type WebRtcConnectionManager } from '../src/manager.js'
import { createSignalingClient } from '../src/signaling-client.js'
import { collectMessages, implementations, nextConnection, startSignalingServer } from './helpers.js'
import { forgeFingerprints } from './identity-helpers.js'
import { carriesDescription, overlayIdentity, rewritePayload, TestRelays } from './overlay-helpers.js'

const CH = channel('overlay-test')
const impl = implementations['node-datachannel']

describe('overlay signaling (signals relayed by peers, signed end to end)', () => {
  let server: SignalingServer
  const made: WebRtcConnectionManager[] = []

  beforeAll(async () => {
    server = await startSignalingServer()
  })
  afterAll(async () => {
    await server.close()
  })
  afterEach(async () => {
    await Promise.all(made.splice(0).map((m) => m.stop()))
  })

  /** A started manager whose only signaling is the overlay (no server at all). */
  async function overlayOnly(relays: TestRelays, connectTimeoutMs = 15_000) {
    const { id, keyPair, overlay } = await overlayIdentity(relays)
    const m = createWebRtcConnectionManager({
      localId: id,
      keyPair,
      signaling: overlay,
      rtc: { iceServers: [] },
      wrtc: impl(),
      connectTimeoutMs,
      peerAuthentication: 'self-certifying',
    })
    made.push(m)
    m.start()
    await m.ready()
    return m
  }

  /** A started manager with the overlay first and the server as fallback. */
  async function composite(relays: TestRelays, room: string) {
    const { id, keyPair, overlay } = await overlayIdentity(relays)
    const m = createWebRtcConnectionManager({
      localId: id,
      keyPair,
      signaling: createCompositeSignaling({
        server: createSignalingClient({ url: server.url, room, localId: id, keyPair }),
        overlay,
      }),
      rtc: { iceServers: [] },
      wrtc: impl(),
    })
    made.push(m)
    m.start()
    await m.ready()
    return { m, overlay }
  }

  async function deliverOne(a: WebRtcConnectionManager, b: WebRtcConnectionManager): Promise<void> {
    const incoming = nextConnection(b)
    const ab = await a.connect(b.localId, { signal: AbortSignal.timeout(20_000) })
    const ba = await incoming
    const got = collectMessages(ba, 1)
    await ab.send(CH, new TextEncoder().encode('over the overlay'))
    expect(new TextDecoder().decode((await got.done)[0]!.bytes)).toBe('over the overlay')
  }

  it('connects and delivers with every signal relayed by peers, none through a server', async () => {
    const relays = new TestRelays()
    const a = await overlayOnly(relays)
    const b = await overlayOnly(relays)
    await deliverOne(a, b)
    for (const m of [a, b]) {
      expect(m.metrics()).toMatchObject({
        serverSignalsSent: 0,
        overlayFallbacks: 0,
        signedSignalsRefused: 0,
      })
      expect(m.metrics().overlaySignalsSent).toBeGreaterThan(0)
      expect(m.metrics().overlaySignalsReceived).toBeGreaterThan(0)
    }
  })

  it.each([
    [
      'alters an SDP',
      (data: Record<string, unknown>) =>
        JSON.parse(JSON.stringify(data).replace(/a=ice-ufrag:[^\\]+/, 'a=ice-ufrag:evil')) as Record<
          string,
          unknown
        >,
    ],
    ['swaps the DTLS fingerprint', forgeFingerprints],
  ])('refuses the connection, and counts it, when a relay %s', async (_what, edit) => {
    const relays = new TestRelays()
    const a = await overlayOnly(relays, 4_000)
    const b = await overlayOnly(relays, 4_000)
    relays.tamper = (bytes) => (carriesDescription(bytes) ? rewritePayload(bytes, edit) : bytes)
    const err = await a.connect(b.localId, { signal: AbortSignal.timeout(20_000) }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConnectionFailedError)
    // the side that received a tampered description refused it (the lower identifier makes the offer)
    expect(a.metrics().signedSignalsRefused + b.metrics().signedSignalsRefused).toBeGreaterThan(0)
    expect(a.metrics().connectionsOpened + b.metrics().connectionsOpened).toBe(0)
  })

  it('refuses a replayed offer, and counts it, without making a peer connection', async () => {
    const relays = new TestRelays()
    const a = await overlayOnly(relays)
    const b = await overlayOnly(relays)
    await deliverOne(a, b)
    const offer = relays.delivered.find((d) => d.to.equals(b.localId) && carriesDescription(d.bytes))
    expect(offer).toBeDefined()
    const created = b.metrics().peerConnectionsCreated
    await expect(relays.replay(b.localId, offer!.bytes)).rejects.toMatchObject({
      name: 'SignalRefusedError',
      reason: 'replay',
    })
    expect(b.metrics().signedSignalsRefused).toBe(1)
    expect(b.metrics().peerConnectionsCreated).toBe(created)
  })

  it('falls back to the server when the overlay route fails, and uses the overlay once it has one', async () => {
    const relays = new TestRelays()
    const room = `overlay-${Math.random().toString(36).slice(2)}`
    const a = await composite(relays, room)
    const b = await composite(relays, room)
    // no route on the overlay (a relay that finds none): every signal goes through the server, sealed
    relays.tamper = () => {
      throw new ConnectionFailedError('no route')
    }
    await deliverOne(a.m, b.m)
    expect(a.m.metrics().overlaySignalsSent).toBe(0)
    expect(a.m.metrics().serverSignalsSent).toBeGreaterThan(0)
    expect(a.m.metrics().overlayFallbacks).toBe(a.m.metrics().serverSignalsSent)
    expect(b.m.metrics().serverSignalsReceived).toBeGreaterThan(0)
    // a third peer reached over the overlay: no server signal at all
    relays.tamper = undefined
    const c = await composite(relays, room)
    const before = { a: a.m.metrics().serverSignalsSent, c: c.m.metrics().serverSignalsSent }
    await deliverOne(a.m, c.m)
    expect(a.m.metrics().serverSignalsSent).toBe(before.a)
    expect(c.m.metrics().serverSignalsSent).toBe(before.c)
    expect(c.m.metrics().overlaySignalsReceived).toBeGreaterThan(0)
    expect(c.m.metrics().signedSignalsRefused).toBe(0)
  })

  it('routes around a relay that tampers: the addressee refuses, the sender falls back to the server', async () => {
    const relays = new TestRelays()
    const room = `overlay-${Math.random().toString(36).slice(2)}`
    const a = await composite(relays, room)
    const b = await composite(relays, room)
    relays.tamper = (bytes) => rewritePayload(bytes, forgeFingerprints)
    await deliverOne(a.m, b.m)
    const refused = a.m.metrics().signedSignalsRefused + b.m.metrics().signedSignalsRefused
    expect(refused).toBeGreaterThan(0)
    expect(a.m.metrics().overlayFallbacks + b.m.metrics().overlayFallbacks).toBe(refused)
  })

  it('is unavailable until a relay is attached, and delivers once one is', async () => {
    const relays = new TestRelays()
    const a = await overlayIdentity(relays)
    const b = await overlayIdentity(relays)
    const { createOverlaySignaling } = await import('../src/overlay-signaling.js')
    const lone = createOverlaySignaling({ localId: a.id, keyPair: a.keyPair })
    for (const s of [lone, b.overlay]) {
      s.start()
      await s.ready()
    }
    await expect(lone.signal(b.id, 'sess', { bye: true })).rejects.toMatchObject({
      name: 'SignalingUnavailableError',
    })
    const got = new Promise((resolve) =>
      b.overlay.on('signal', (from, session, data) => resolve({ from, session, data })),
    )
    const detach = lone.attach(relays.relayFor(a.id))
    await lone.signal(b.id, 'sess', { bye: true })
    expect(await got).toEqual({ from: a.id, session: 'sess', data: { bye: true } })
    detach()
    await expect(lone.signal(b.id, 'sess', { bye: true })).rejects.toMatchObject({
      name: 'SignalingUnavailableError',
    })
    await Promise.all([lone.stop(), b.overlay.stop(), a.overlay.stop()])
  })
})
