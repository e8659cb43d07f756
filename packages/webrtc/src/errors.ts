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

/** Which per-peer limit a {@link PeerLimitExceededError} reports. */
export type PeerLimit =
  /** The remote's unfinished chunked messages held more than `maxInboundBytes` of this side's memory. */
  | 'inbound-bytes'
  /** An unfinished chunked message got no further chunk for `reassemblyTimeoutMs`. */
  | 'reassembly-timeout'
  /** The remote opened more than `maxRemoteChannels` channels. */
  | 'remote-channels'
  /** The remote sent a non-final chunk below `minFrameSize`, or its link allows only frames below it. */
  | 'frame-size'
  /** The remote did not acknowledge a channel this side opened within `channelAckTimeoutMs`. */
  | 'channel-ack-timeout'

/**
 * Close reason: the remote exceeded one of this side's per-peer limits ({@link PeerLimitExceededError.limit} says
 * which). Only that connection closes; it is counted in the manager's `peerLimitViolations`.
 */
export class PeerLimitExceededError extends ConnectionClosedError {
  override name = 'PeerLimitExceededError'
  /** The limit the remote exceeded. */
  readonly limit: PeerLimit

  constructor(limit: PeerLimit, message: string, options?: { cause?: unknown }) {
    super(`${limit}: ${message}`, options)
    this.limit = limit
  }
}
