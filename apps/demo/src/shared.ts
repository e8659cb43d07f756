/**
 * The `shared` transport (`?transport=shared`): every node of the tab on one WebRTC host (`createWebRtcHost`): one
 * signaling socket carries every node's id, one RTCPeerConnection per other tab carries every node pair between
 * the two tabs, and the tab's own nodes talk in memory.
 *
 * The signaling room holds both hosts and nodes; this module tells them apart for the join coordination
 * ({@link RoomView}): an id announced with its host (`peer:host`) is a node; one announced without is a host;
 * one found in the room's list at (re)join is resolved once through the server.
 *
 * The host's own signals (a host dialling another tab's host) go through the graph: each node's skip-graph signaler
 * is one of the host's relays ({@link sharedNodeOverlay}), the server being the fallback. A node added while the
 * server is down starts unbound and joins through its tab's nodes (the other tabs learn its host from the host link
 * its links arrive on); a brand-new tab cannot start its host without the server.
 *
 * @module
 */
import type { ConnectionManager, Identifier, Network, Unsubscribe } from '@skipmesh/core'
import { generateKeyPair } from '@skipmesh/core'
import { type SkipGraphSignaler, createSkipGraphSignaler } from '@skipmesh/skipgraph'
import {
  type SignalingHostDirectory,
  type WebRtcHost,
  createSignalingDirectory,
  createWebRtcHost,
} from '@skipmesh/webrtc'
import { type NodeOverlay, signalRoutes } from './overlay.js'
import type { NodeTransport, RoomView, TabTransport } from './transport.js'
import { roomEvents } from './webrtc.js'

const RESOLVE_TIMEOUT_MS = 10_000
const RESOLVE_RETRY_MS = 1000
/**
 * Nodes of each other host named in {@link RoomView.ask} (its lowest ids). Asking them is enough both for the
 * join election (a host that started a graph has its lowest nodes in it within a round, the rest join through
 * them) and as the skip graph's merge contacts (one node of another graph suffices, the merge spreads along the
 * links); naming every node of the room made each of 4 × 64 nodes ask and check all 192 others (O(n²) virtual
 * links and describe requests: the election alone took ~50 s at 256 nodes).
 */
const ASKED_PER_HOST = 4

/** The hosts and nodes of the room as one host sees them. */
class RoomMembers {
  readonly #host: WebRtcHost
  readonly #directory: SignalingHostDirectory
  /** Node ids of other hosts, with their host. */
  readonly #hostOf = new Map<string, string>()
  readonly #hosts = new Set<string>()
  /** Ids seen without their host, not resolved yet (taken for rivals, and asked, until then). */
  readonly #pending = new Set<string>()

  constructor(host: WebRtcHost) {
    this.#host = host
    const signaling = host.signaling
    this.#directory = createSignalingDirectory(signaling)
    signaling.on('peer:host', (id, h) => this.#classify(id.toHex(), h.toHex()))
    // announced without its host (a host, or an id of the room's list at a (re)join): asked once
    signaling.on('peer:joined', (id) => this.#learn([id]))
    signaling.on('peer:left', (id) => {
      const hex = id.toHex()
      this.#hostOf.delete(hex)
      this.#hosts.delete(hex)
      this.#pending.delete(hex)
    })
    signaling.on('authenticated', (peers) => this.#learn(peers))
  }

  /**
   * The election is between hosts (a host is in the room from the page's start, its nodes only once each is
   * bound): this host against the others and the ids not classified yet. Asked: the lowest
   * {@link ASKED_PER_HOST} nodes of each other host, those of the lowest host (the one that starts the graph when
   * this one does not) first.
   */
  view(): RoomView {
    const self = this.#host.hostId.toHex()
    const rivals = [...this.#hosts, ...this.#pending].filter((h) => h !== self)
    const byHost = new Map<string, string[]>()
    for (const [id, h] of this.#hostOf) {
      const ids = byHost.get(h)
      if (ids === undefined) byHost.set(h, [id])
      else ids.push(id)
    }
    const nodes = [...byHost]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .flatMap(([, ids]) => ids.sort().slice(0, ASKED_PER_HOST))
    // ids not classified yet may be nodes too (a tab that opens late finds the others' nodes in the list)
    return { self, rivals, ask: [...nodes, ...[...this.#pending].sort()] }
  }

  #inRoom(hex: string): boolean {
    return this.#host.state === 'ready' && this.#host.signaling.peers().some((p) => p.toHex() === hex)
  }

  /** `id` is carried by `host` (`id === host`: it is a host). */
  #classify(id: string, host: string): void {
    this.#pending.delete(id)
    this.#pending.delete(host)
    this.#hosts.add(host)
    if (id !== host) this.#hostOf.set(id, host)
  }

  /** Resolves the hosts of `ids` not classified yet (the directory batches them into one request). */
  #learn(ids: readonly Identifier[]): void {
    for (const id of ids) {
      const hex = id.toHex()
      if (this.#hostOf.has(hex) || this.#hosts.has(hex) || this.#pending.has(hex)) continue
      this.#pending.add(hex)
      this.#directory.resolve(id, { signal: AbortSignal.timeout(RESOLVE_TIMEOUT_MS) }).then(
        (h) => {
          if (this.#pending.has(hex)) this.#classify(hex, h.toHex())
        },
        () => {
          // it left meanwhile (forgotten), or the server did not answer (asked again while it is in the room)
          this.#pending.delete(hex)
          if (this.#inRoom(hex)) setTimeout(() => this.#learn([id]), RESOLVE_RETRY_MS)
        },
      )
    }
  }
}

/** Node `id`'s skip-graph signaler as a relay of the tab's host, from the node's start to its stop. */
function sharedNodeOverlay(host: WebRtcHost, id: Identifier): NodeOverlay {
  let signaler: SkipGraphSignaler | undefined
  let off: Unsubscribe | undefined
  return {
    async start(network: Network, cm: ConnectionManager) {
      const s = createSkipGraphSignaler({
        network,
        openConnections: () => cm.connections().map((c) => c.remoteId),
      })
      s.start()
      await s.ready()
      signaler = s
      off = host.addSignalRelay(id, s)
    },
    joined() {},
    async stop() {
      off?.()
      off = undefined
      await signaler?.stop()
      signaler = undefined
    },
  }
}

/** One WebRTC host for the whole tab, in room `room`; started with the tab's first node. */
export function sharedWebRtcTransport(options: {
  signalingUrl: string
  room: string
  iceServers: RTCIceServer[]
}): TabTransport {
  let started: Promise<{ host: WebRtcHost; members: RoomMembers }> | undefined
  const start = async (): Promise<{ host: WebRtcHost; members: RoomMembers }> => {
    const host = createWebRtcHost({
      keyPair: await generateKeyPair(),
      signaling: { url: options.signalingUrl, room: options.room },
      rtc: { iceServers: options.iceServers },
    })
    const members = new RoomMembers(host)
    // the nodes' own start waits for the host; a host that cannot start fails every node's start
    host.start()
    return { host, members }
  }
  return {
    kind: 'shared',
    async node(localId: Identifier): Promise<NodeTransport> {
      started ??= start()
      const { host, members } = await started
      const cm = host.node(localId, await generateKeyPair())
      return {
        cm,
        overlay: sharedNodeOverlay(host, localId),
        // one host for all the tab's nodes: every node reports the same counters
        signals: () => signalRoutes(host.manager.metrics()),
        room: () => members.view(),
        ...roomEvents(host.manager),
      }
    },
    async stop() {
      if (started === undefined) return
      const { host } = await started
      await host.stop()
    },
  }
}
