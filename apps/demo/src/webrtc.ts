/**
 * The `webrtc` transport: a WebRTC connection manager in the signaling room.
 *
 * @module
 */
import { type Identifier, generateKeyPair } from '@skipmesh/core'
import { createWebRtcConnectionManager } from '@skipmesh/webrtc'
import type { Transport, WebRtcTransport } from './transport.js'

/** A WebRTC connection manager in the signaling room. */
export async function webrtcTransport(localId: Identifier, t: WebRtcTransport): Promise<Transport> {
  const keyPair = await generateKeyPair()
  const cm = createWebRtcConnectionManager({
    localId,
    keyPair,
    signaling: { url: t.signalingUrl, room: t.room },
    rtc: { iceServers: t.iceServers },
  })
  return {
    cm,
    peers: () => cm.peers().map((p: Identifier) => p.toHex()),
    onPeerLeft: (handler) => cm.on('peer:left', (id: Identifier) => handler(id.toHex())),
    onSignaling: (handler) => {
      const offs = [cm.on('signaling:down', () => handler(false)), cm.on('signaling:up', () => handler(true))]
      return () => {
        for (const off of offs) off()
      }
    },
  }
}
