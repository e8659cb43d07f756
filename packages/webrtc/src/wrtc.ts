import { WebRtcUnavailableError } from './errors.js'

/** A constructor of standard `RTCPeerConnection`s. */
export type RTCPeerConnectionConstructor = new (configuration?: RTCConfiguration) => RTCPeerConnection

/**
 * A WebRTC implementation: browsers' globals, `@roamhq/wrtc`, `node-datachannel/polyfill` (the module namespace
 * itself), or `nodeDatachannelWrtc(polyfill)`. Any standard implementation fits: only `RTCPeerConnection` is used.
 */
export interface WrtcImplementation {
  /** The `RTCPeerConnection` class. */
  readonly RTCPeerConnection: RTCPeerConnectionConstructor
  /** The `RTCSessionDescription` class (not used: descriptions are passed as plain `{ type, sdp }` objects). */
  readonly RTCSessionDescription?: unknown
  /** The `RTCIceCandidate` class (not used: candidates are passed as plain `RTCIceCandidateInit` objects). */
  readonly RTCIceCandidate?: unknown
}

/**
 * The implementation to use: `given` when present, else the platform's globals.
 * @throws {WebRtcUnavailableError} when nothing is given and there is no global `RTCPeerConnection`.
 */
export function resolveWrtc(given: WrtcImplementation | undefined): WrtcImplementation {
  if (given !== undefined) {
    if (typeof given.RTCPeerConnection !== 'function') {
      throw new WebRtcUnavailableError('the wrtc option has no RTCPeerConnection constructor')
    }
    return given
  }
  const g = globalThis as {
    RTCPeerConnection?: RTCPeerConnectionConstructor
    RTCSessionDescription?: unknown
    RTCIceCandidate?: unknown
  }
  if (typeof g.RTCPeerConnection !== 'function') {
    throw new WebRtcUnavailableError(
      'no global RTCPeerConnection: pass a WebRTC implementation as the wrtc option (in Node: @roamhq/wrtc or node-datachannel/polyfill)',
    )
  }
  return {
    RTCPeerConnection: g.RTCPeerConnection,
    RTCSessionDescription: g.RTCSessionDescription,
    RTCIceCandidate: g.RTCIceCandidate,
  }
}
