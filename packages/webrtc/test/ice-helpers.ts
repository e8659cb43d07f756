/** Helpers of the ICE and relay tests: a WebRTC implementation that keeps its peer connections, waiting on a condition. */
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

/** Resolves once `condition()` holds (checked every 50 ms), or rejects after `timeoutMs`. */
export function until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const timer = setInterval(() => {
      if (condition()) {
        clearInterval(timer)
        resolve()
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer)
        reject(new Error(`timed out waiting for ${what}`))
      }
    }, 50)
  })
}
