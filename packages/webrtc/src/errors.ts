/**
 * The errors of `@skipmesh/webrtc`, one class per condition, each with its `name` set. Network errors extend core's
 * {@link ConduitError} family so that the `Network` treats them as benign. A bad option throws core's
 * `InvalidOptionsError`.
 *
 * @module
 */
import { ConnectionClosedError, ConnectionFailedError, SkipmeshError } from '@skipmesh/core'
import type { SignalErrorCode } from '@skipmesh/signaling-protocol'

/** No `wrtc` implementation was given and the platform has no global `RTCPeerConnection`. */
export class WebRtcUnavailableError extends SkipmeshError {
  override name = 'WebRtcUnavailableError'
}

/** The signaling server is unreachable, or did not answer a request in time. */
export class SignalingUnavailableError extends ConnectionFailedError {
  override name = 'SignalingUnavailableError'
}

/** The signaling server refused a request; {@link SignalingRejectedError.code} says why. */
export class SignalingRejectedError extends ConnectionFailedError {
  override name = 'SignalingRejectedError'
  /** The protocol's machine-readable reason. */
  readonly code: SignalErrorCode

  constructor(code: SignalErrorCode, message: string, options?: { cause?: unknown }) {
    super(`signaling server refused: ${code}: ${message}`, options)
    this.code = code
  }
}

/** Close reason: nothing (data, ping or pong) arrived from the remote for `heartbeatTimeoutMs`. */
export class HeartbeatTimeoutError extends ConnectionClosedError {
  override name = 'HeartbeatTimeoutError'
}

/** Close reason: the peer connection or one of its data channels closed or failed without a close handshake. */
export class TransportClosedError extends ConnectionClosedError {
  override name = 'TransportClosedError'
}

/** Close reason: the remote sent a message larger than our `maxMessageSize`, or broke the framing protocol. */
export class ProtocolViolationError extends ConnectionClosedError {
  override name = 'ProtocolViolationError'
}
