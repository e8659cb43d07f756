/**
 * The `per-node` transport: every node of the tab has its own WebRTC connection manager in the signaling room
 * (so one RTCPeerConnection per pair of nodes; Chromium refuses more than about 500 per process). Its signals go
 * through the overlay first (`overlay.ts`: in memory to a node of this tab, else over the skip graph), and through
 * the signaling server when the overlay has no route (the node's first connection in a tab that has no node in
 * the graph yet, or a route that failed).
 *
 * @module
 */
import { type Identifier, generateKeyPair } from '@skipmesh/core'
import {
  type WebRtcConnectionManager,
  createCompositeSignaling,
  createOverlaySignaling,
  createSignalingClient,
  createWebRtcConnectionManager,
} from '@skipmesh/webrtc'
import { signalRoutes, TabSignalRelays } from './overlay.js'
import type { NodeTransport, TabTransport } from './transport.js'

/** The room events of a WebRTC manager (a node's own, or the host's that all the tab's nodes share). */
export function roomEvents(
  manager: WebRtcConnectionManager,
): Pick<NodeTransport, 'onPeerLeft' | 'onSignaling'> {
  return {
    onPeerLeft: (handler) => manager.on('peer:left', (id: Identifier) => handler(id.toHex())),
    onSignaling: (handler) => {
      const offs = [
        manager.on('signaling:down', () => handler(false)),
        manager.on('signaling:up', () => handler(true)),
      ]
      return () => {
        for (const off of offs) off()
      }
    },
  }
}

/** One WebRTC connection manager per node, in room `room`. */
export function perNodeWebRtcTransport(options: {
  signalingUrl: string
  room: string
  iceServers: RTCIceServer[]
}): TabTransport {
  const relays = new TabSignalRelays()
  return {
    kind: 'per-node',
    async node(localId: Identifier): Promise<NodeTransport> {
      const keyPair = await generateKeyPair()
      const overlay = createOverlaySignaling({ localId, keyPair })
      const { overlay: hooks, early } = relays.member(localId, overlay)
      const cm = createWebRtcConnectionManager({
        localId,
        keyPair,
        signaling: createCompositeSignaling({
          server: createSignalingClient({ url: options.signalingUrl, room: options.room, localId, keyPair }),
          overlay,
          // with a node of this tab in the graph, the new node signals through it and needs no server to start
          // (it joins the room in the background); else it waits for the server (the room decides who starts
          // the graph), and a tab that cannot reach the server cannot bootstrap
          ...(early ? { serverWaitMs: 0 } : {}),
        }),
        rtc: { iceServers: options.iceServers },
      })
      return {
        cm,
        overlay: hooks,
        signals: () => signalRoutes(cm.metrics()),
        room: () => {
          const rivals = cm.peers().map((p: Identifier) => p.toHex())
          return { self: localId.toHex(), rivals, ask: [...rivals].sort() }
        },
        ...roomEvents(cm),
      }
    },
    stop: async () => {},
  }
}
