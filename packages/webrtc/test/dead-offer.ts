import { CONTROL_CHANNEL_ID } from '../src/control.js'
import { createNativePeerTransport } from '../src/peer-native.js'
import type { PeerSignal } from '../src/peer-transport.js'
import type { WrtcImplementation } from '../src/wrtc.js'

/** A real offer (of a peer connection destroyed at once): the victim can apply it, nobody will ever finish it. */
export async function deadOffer(wrtc: WrtcImplementation): Promise<PeerSignal> {
  const peer = createNativePeerTransport({ initiator: true, wrtc, config: { iceServers: [] } })
  peer.createChannel('skipmesh-control', CONTROL_CHANNEL_ID)
  try {
    return await new Promise<PeerSignal>((resolve) => {
      const off = peer.on('signal', (signal) => {
        if (signal.type !== 'offer') return
        off()
        resolve(signal)
      })
    })
  } finally {
    peer.destroy()
  }
}
