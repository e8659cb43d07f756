import { type Identifier, generateKeyPair } from '@skipmesh/core'
import { createWebRtcConnectionManager } from '@skipmesh/webrtc'
import type { Transport } from './node.js'

/** A WebRTC connection manager in the signaling room. */
export async function webrtcTransport(
  localId: Identifier,
  t: { signalingUrl: string; room: string; iceServers: RTCIceServer[] },
): Promise<Transport> {
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
      const offs = [
        cm.signaling.on('disconnected', () => handler(false)),
        cm.signaling.on('authenticated', () => handler(true)),
      ]
      return () => {
        for (const off of offs) off()
      }
    },
  }
}
