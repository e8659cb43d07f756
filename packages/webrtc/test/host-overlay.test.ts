/**
 * The shared per-tab host without the signaling server (issue 15, item 1: tab-to-tab links): host-level signals travel
 * over the nodes' skip-graph signalers, the other hosts learn a node's host from the host link its virtual links
 * arrive on, and a node started while the server is down is bound once it is back.
 *
 * The skip graph's signaler is imported from its source (see `overlay-join.test.ts` for why).
 */
import {
  type AbortOptions,
  Channel,
  type ConnectionManager,
  createNetwork,
  generateKeyPair,
  Identifier,
  type Network,
} from '@skipmesh/core'
import { deferred } from '@skipmesh/core/internal'
import { createSignalingServer, type SignalingServer, silentLogger } from '@skipmesh/signaling-server'
import { afterEach, describe, expect, it } from 'vitest'
import { createSkipGraphSignaler, type SkipGraphSignaler } from '../../skipgraph/src/index.js'
import { createWebRtcHost, type WebRtcHost } from '../src/host.js'
import type { SignalingClient } from '../src/signaling-client.js'
import { countingWrtc, implementations } from './helpers.js'

const impl = implementations['node-datachannel']
const text = new TextEncoder()

/** A node of a host: its manager, a network on it, and its skip-graph signaler as one of the host's relays. */
interface HostedNode {
  readonly id: Identifier
  readonly cm: ConnectionManager
  readonly network: Network
  readonly signaler: SkipGraphSignaler
}

/** A signaling server on `port` (0: any free one). */
function serverOn(port: number): Promise<SignalingServer> {
  return createSignalingServer({
    port,
    host: '127.0.0.1',
    logger: silentLogger,
    rateLimit: { points: 10_000, durationMs: 1_000 },
  })
}

/** Resolves once `client` lost its server (at once if it has). */
function lost(client: SignalingClient): Promise<void> {
  return new Promise((resolve) => {
    if (!client.authenticated) return resolve()
    const off = client.on('disconnected', () => {
      off()
      resolve()
    })
  })
}

/** Resolves once `client` was told that `id` is in the room. */
function announced(client: SignalingClient, id: Identifier): Promise<void> {
  return new Promise((resolve) => {
    if (client.peers().some((p) => p.equals(id))) return resolve()
    const off = client.on('peer:joined', (joined) => {
      if (!joined.equals(id)) return
      off()
      resolve()
    })
  })
}

describe('WebRTC hosts without the signaling server (node-datachannel)', () => {
  const hosts: WebRtcHost[] = []
  const nodes: HostedNode[] = []
  const servers: SignalingServer[] = []
  afterEach(async () => {
    for (const n of nodes.splice(0)) {
      await n.signaler.stop()
      await n.network.stop()
    }
    await Promise.all(hosts.splice(0).map((h) => h.stop()))
    await Promise.all(servers.splice(0).map((s) => s.close()))
  })

  const opts = (): AbortOptions => ({ signal: AbortSignal.timeout(30_000) })

  async function startHost(server: SignalingServer, room: string): Promise<WebRtcHost> {
    const host = createWebRtcHost({
      keyPair: await generateKeyPair(),
      signaling: { url: server.url, room, reconnectDelayMs: 100, reconnectDelayMaxMs: 400 },
      rtc: { iceServers: [] },
      wrtc: countingWrtc(impl()),
    })
    hosts.push(host)
    host.start()
    await host.ready()
    return host
  }

  async function startNode(host: WebRtcHost): Promise<HostedNode> {
    const id = Identifier.random()
    const cm = host.node(id, await generateKeyPair())
    const network = createNetwork({ connectionManager: cm })
    network.start()
    await network.ready()
    const signaler = createSkipGraphSignaler({
      network,
      openConnections: () => cm.connections().map((c) => c.remoteId),
    })
    signaler.start()
    await signaler.ready()
    host.addSignalRelay(id, signaler)
    const node = { id, cm, network, signaler }
    nodes.push(node)
    return node
  }

  /**
   * Hosts A, B, C with one node each (a, b, c); a and b linked to c (so host links A–C and B–C), A and B not linked;
   * every host has heard of every node; then the server stops and every host has seen it go.
   */
  async function twoHostsLinkedToAThird(): Promise<{
    server: SignalingServer
    port: number
    A: WebRtcHost
    B: WebRtcHost
    C: WebRtcHost
    a: HostedNode
    b: HostedNode
    c: HostedNode
  }> {
    const server = await serverOn(0)
    const room = `hosts-overlay-${Math.random().toString(36).slice(2)}`
    const [A, B, C] = await Promise.all([0, 1, 2].map(() => startHost(server, room)))
    const [a, b, c] = [await startNode(A!), await startNode(B!), await startNode(C!)]
    const pairs = [
      [A!, a],
      [B!, b],
      [C!, c],
    ] as const
    for (const [h] of pairs) {
      for (const [other, n] of pairs) if (other !== h) await announced(h.signaling, n.id)
    }
    await a!.cm.connect(c!.id, opts())
    await b!.cm.connect(c!.id, opts())
    expect(A!.metrics().mux.hostLinks).toBe(1)
    expect(B!.metrics().mux.hostLinks).toBe(1)
    const port = Number(new URL(server.url).port)
    await server.close()
    await Promise.all([A!, B!, C!].map((h) => lost(h.signaling)))
    return { server, port, A: A!, B: B!, C: C!, a: a!, b: b!, c: c! }
  }

  it('dials another host through the overlay, over a third host both are linked to, with the server stopped', async () => {
    const { A, B, a, b } = await twoHostsLinkedToAThird()
    const before = { A: A.metrics().webrtc, B: B.metrics().webrtc }

    const conn = await a.cm.connect(b.id, opts())
    expect(conn.remoteId.equals(b.id)).toBe(true)
    const got = deferred<string>()
    await b.network.register(Channel.Test, {
      processIncomingMessage: (_ch, _from, message) => got.resolve(new TextDecoder().decode(message.payload)),
    })
    const conduit = await a.network.register(Channel.Test, { processIncomingMessage: () => {} })
    await conduit.send(b.id, { payload: text.encode('over the new host link'), metadata: {} })
    expect(await got.promise).toBe('over the new host link')

    const after = { A: A.metrics().webrtc, B: B.metrics().webrtc }
    // one new RTCPeerConnection per side, every signal of it carried by the overlay
    expect(after.A.peerConnectionsCreated - before.A.peerConnectionsCreated).toBe(1)
    expect(A.metrics().mux.hostLinks).toBe(2)
    expect(B.metrics().mux.hostLinks).toBe(2)
    for (const side of ['A', 'B'] as const) {
      expect(after[side].serverSignalsSent).toBe(before[side].serverSignalsSent)
      expect(after[side].overlaySignalsSent).toBeGreaterThan(before[side].overlaySignalsSent)
      expect(after[side].overlaySignalsReceived).toBeGreaterThan(before[side].overlaySignalsReceived)
      expect(after[side].signedSignalsRefused).toBe(0)
    }
  }, 90_000)

  it("dials a new host's first link alone, and its other links through the graph, with the server up", async () => {
    const server = await serverOn(0)
    servers.push(server)
    const room = `hosts-first-${Math.random().toString(36).slice(2)}`
    const [B, C, D] = await Promise.all([0, 1, 2].map(() => startHost(server, room)))
    const [b, c, d] = [await startNode(B!), await startNode(C!), await startNode(D!)]
    await b!.cm.connect(c!.id, opts())
    await b!.cm.connect(d!.id, opts())
    const A = await startHost(server, room)
    const a = await startNode(A)
    for (const n of [b!, c!, d!]) await announced(A.signaling, n.id)
    for (const h of [B!, C!, D!]) await announced(h.signaling, a.id)

    // a new tab's node asks every tab at once
    await Promise.all([b!, c!, d!].map((n) => a.cm.connect(n.id, opts())))
    const m = A.metrics()
    expect(m.mux.hostLinks).toBe(3)
    // the first dial went through the server (no route yet); the two others' signals, and their answers, through b
    expect(m.webrtc.overlaySignalsSent).toBeGreaterThan(0)
    for (const h of [C!, D!]) expect(h.metrics().webrtc.overlaySignalsSent).toBeGreaterThan(0)
    // nothing refused but, at most, the second copy of a signal the composite also sent through the server (slow route)
    for (const h of [A, B!, C!, D!])
      expect(Object.keys(h.overlay.refusals()).filter((r) => r !== 'replay')).toEqual([])
  }, 90_000)

  it('starts a node while the server is down, links it to other hosts, which learn its host from the link, and binds it once the server is back', async () => {
    const { port, A, C, c } = await twoHostsLinkedToAThird()
    const rejected = C.metrics().mux.rejectedFrames

    const late = await startNode(A)
    expect(A.metrics().unboundNodes).toBe(1)
    // C has never heard of it: the open's source is taken from the host link A–C it arrives on
    await late.cm.connect(c.id, opts())
    expect(C.metrics().mux.rejectedFrames).toBe(rejected)
    // and C can dial it back after the link is gone (resolved from what the link told it)
    await late.cm
      .connections()
      .find((x) => x.remoteId.equals(c.id))!
      .close()
    const back = await c.cm.connect(late.id, opts())
    expect(back.remoteId.equals(late.id)).toBe(true)

    // the server is back on the same address: the node's id is bound, the others hear of it
    servers.push(await serverOn(port))
    await announced(C.signaling, late.id)
    await expect.poll(() => A.metrics().unboundNodes, { timeout: 15_000 }).toBe(0)
    expect(A.metrics().failedRejoins).toBe(0)
  }, 90_000)
})
