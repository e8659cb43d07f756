/**
 * The `per-node` transport: every node of the tab has its own WebRTC connection manager in the signaling room
 * (so one RTCPeerConnection per pair of nodes; Chromium refuses more than about 500 per process).
 *
 * @module
 */
import { type Identifier, generateKeyPair } from '@skipmesh/core'
import { type WebRtcConnectionManager, createWebRtcConnectionManager } from '@skipmesh/webrtc'
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
  return {
    kind: 'per-node',
    async node(localId: Identifier): Promise<NodeTransport> {
      const keyPair = await generateKeyPair()
      const cm = createWebRtcConnectionManager({
        localId,
        keyPair,
        signaling: { url: options.signalingUrl, room: options.room },
        rtc: { iceServers: options.iceServers },
      })
      return {
        cm,
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
