import { type Identifier, generateKeyPair } from '@skipmesh/core'
import { createWebRtcConnectionManager } from '@skipmesh/webrtc'
import type { Transport } from './node.js'

/** A WebRTC connection manager in the signaling room (loaded on demand: the memory transport needs none). */
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
  }
}

