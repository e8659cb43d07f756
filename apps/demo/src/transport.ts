/**
 * How a node of this tab reaches its peers: the contract both transports (`webrtc.ts`, `memory.ts`) fulfil
 * and `node.ts` consumes.
 *
 * @module
 */
import type { ConnectionManager, MemoryHub } from '@skipmesh/core'

/** A node's connection manager and what the demo needs to know about its room. */
export interface Transport {
  cm: ConnectionManager
  peers(): string[]
  onPeerLeft(handler: (id: string) => void): () => void
  /** Calls `handler(false)` when the signaling server connection is lost, `handler(true)` once rejoined. */
  onSignaling(handler: (up: boolean) => void): () => void
}

/** The in-tab hub of the `memory` transport and the ids registered on it. */
export interface MemoryTransport {
  kind: 'memory'
  hub: MemoryHub
  ids: Set<string>
}

/** What the `webrtc` transport needs: the signaling room and the ICE servers. */
export interface WebRtcTransport {
  kind: 'webrtc'
  signalingUrl: string
  room: string
  iceServers: RTCIceServer[]
}
