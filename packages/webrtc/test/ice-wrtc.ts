/** A WebRTC implementation wrapper for the ICE and relay tests: it keeps every RTCPeerConnection it made. */
import type { RTCPeerConnectionConstructor, WrtcImplementation } from '../src/wrtc.js'

/** Wraps an implementation so that the test can read the stats and configuration of every RTCPeerConnection it made. */
export function recordingWrtc(impl: WrtcImplementation): WrtcImplementation & { made: RTCPeerConnection[] } {
  const made: RTCPeerConnection[] = []
  const Base = impl.RTCPeerConnection
  class Recording extends Base {
    constructor(config?: RTCConfiguration) {
      super(config)
      made.push(this)
    }
  }
  return {
    RTCPeerConnection: Recording as RTCPeerConnectionConstructor,
    RTCSessionDescription: impl.RTCSessionDescription,
    RTCIceCandidate: impl.RTCIceCandidate,
    made,
  }
}
