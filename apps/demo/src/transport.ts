/**
 * How the nodes of this tab reach their peers: the contracts every transport fulfils (`shared.ts`: one WebRTC
 * host for the whole tab; `webrtc.ts`: one WebRTC connection manager per node; `memory.ts`: an in-tab hub) and the one place that picks an implementation
 * ({@link createTabTransport}). `node.ts` consumes {@link NodeTransport}; nothing else knows which is in use.
 *
 * @module
 */
import type { ConnectionManager, Identifier } from '@skipmesh/core'
import { memoryTabTransport } from './memory.js'
import type { NodeOverlay } from './overlay.js'
import { sharedWebRtcTransport } from './shared.js'
import { perNodeWebRtcTransport } from './webrtc.js'

/**
 * The signaling room as the join coordination sees it when nobody it knows has joined yet: who decides to start
 * the graph (the lowest of `self` and `rivals`), and whom to ask whether they have joined.
 */
export interface RoomView {
  /** Who stands for this node in that decision: the node itself, or the host its tab's nodes share. */
  self: string
  /** The others in the decision, of the same kind as `self` (nodes, or hosts), as last known. */
  rivals: string[]
  /** Node ids of other tabs worth asking whether they have joined, best first. */
  ask: string[]
}

/** Signals one node sent and received through the signaling server and through the overlay. */
export interface SignalRoutes {
  serverSent: number
  serverReceived: number
  overlaySent: number
  overlayReceived: number
  /** Signals whose overlay route failed and that went to the server instead. */
  fallbacks: number
  /** Signed signals the node refused (altered, forged, stale, replayed). */
  refused: number
}

/** One node's connection manager and what the demo needs to know about its room. */
export interface NodeTransport {
  cm: ConnectionManager
  /**
   * The node's part in signaling through the overlay, when its transport signals that way (`per-node`: the node's own
   * signals; `shared`: the node's signaler carries its tab's host's signals).
   */
  overlay?: NodeOverlay
  /** Which way the node's signals went, when the transport counts them (`shared`: its tab's host's, for every node). */
  signals?(): SignalRoutes
  /** The room, as last known. */
  room(): RoomView
  onPeerLeft(handler: (id: string) => void): () => void
  /** Calls `handler(false)` when the signaling server connection is lost, `handler(true)` once rejoined. */
  onSignaling(handler: (up: boolean) => void): () => void
}

/** The transport of a whole tab: gives each node of the tab its connection manager. */
export interface TabTransport {
  /** `shared`, `per-node` or `memory`: shown in the page and the API. */
  readonly kind: TransportKind
  /** The transport of one more node with identifier `localId` (not started: the node's network starts it). */
  node(localId: Identifier): Promise<NodeTransport>
  /** Releases what the tab holds beyond its nodes (their own stop closes their managers). */
  stop(): Promise<void>
}

/** Which transport a tab runs on (`?transport=`). */
export type TransportKind = 'shared' | 'per-node' | 'memory'

/** What {@link createTabTransport} needs. */
export interface TabTransportOptions {
  kind: TransportKind
  signalingUrl: string
  room: string
  iceServers: RTCIceServer[]
}

/** The tab's transport: the only switch between implementations. */
export function createTabTransport(options: TabTransportOptions): TabTransport {
  switch (options.kind) {
    case 'shared':
      return sharedWebRtcTransport(options)
    case 'memory':
      return memoryTabTransport()
    case 'per-node':
      return perNodeWebRtcTransport(options)
  }
}
