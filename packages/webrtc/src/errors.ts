/**
 * The errors of `@skipmesh/webrtc`, one class per condition, each with its `name` set. Network errors extend core's
 * {@link ConduitError} family so that the `Network` treats them as benign. A bad option throws core's
 * `InvalidOptionsError`.
 *
 * @module
 */
import { ConnectionClosedError, ConnectionFailedError, SkipmeshError } from '@skipmesh/core'
import type { SignalErrorCode } from '@skipmesh/signaling-protocol'
import type { SignalRefusal } from './signed-signals.js'

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

/** A candidate's type, as its `typ` attribute names it. */
export type IceCandidateType = 'host' | 'srflx' | 'prflx' | 'relay'

/** What one peer connection's ICE did, as far as this side saw it (the facts of an {@link IceConnectionFailedError}). */
export interface IceFacts {
  /** Whether a first offer/answer exchange completed (this side set both descriptions). */
  readonly exchanged: boolean
  /** Whether ICE ever reached `connected` or `completed`. */
  readonly connected: boolean
  /** The ICE connection state last seen. */
  readonly iceState: RTCIceConnectionState
  /** The types of the candidates this side gathered, each once. */
  readonly localCandidateTypes: readonly IceCandidateType[]
  /** The types of the candidates the remote signalled (or put in its description), each once. */
  readonly remoteCandidateTypes: readonly IceCandidateType[]
  /** Whether this side gathered a relay candidate (a TURN server answered with an allocation). */
  readonly relayGathered: boolean
  /** How many ICE servers (STUN and TURN entries) the peer connection was configured with. */
  readonly iceServers: number
  /** The peer connection's `iceTransportPolicy`. */
  readonly iceTransportPolicy: RTCIceTransportPolicy
}

/**
 * A connection attempt whose offer/answer exchange completed (the remote is there and answered) but whose ICE never
 * connected: no candidate pair worked. Usually a TURN server is needed (symmetric NATs, UDP blocked), or the one
 * configured is unreachable or refused the credentials; {@link IceConnectionFailedError.facts} tells what was
 * gathered. `connect()` rejects with it (instead of a plain `ConnectionFailedError`, which then means the
 * signaling never completed: the remote absent or silent); the manager's `iceConnectionFailures` counts it on both
 * sides.
 */
export class IceConnectionFailedError extends ConnectionFailedError {
  override name = 'IceConnectionFailedError'
  /** What ICE did on this side. */
  readonly facts: IceFacts

  constructor(message: string, facts: IceFacts, options?: { cause?: unknown }) {
    super(message, options)
    this.facts = facts
  }
}

/** Why a {@link PeerAuthenticationError} refused the remote. */
export type PeerAuthenticationFailure =
  /** The remote sent no identity proof and this side requires one, or its identifier is known with a key. */
  | 'unsigned'
  /**
   * The signature does not verify over this connection's transcript: the DTLS fingerprints the remote signed are
   * not the ones this side negotiated (a signaling server or relay in the middle), or the hello was forged.
   */
  | 'signature'
  /** The identifier is bound to another key: pinned to the key first seen for it, or derived from another key. */
  | 'key-mismatch'
  /** `peerAuthentication: 'self-certifying'` and the identifier is not derived from the remote's key. */
  | 'not-self-certifying'

/**
 * The remote could not prove that it owns the identifier it connects as (see `peerAuthentication`): the connection
 * closes before it opens, `connect()` rejects with this error, and the manager's `peerAuthFailures` counts it on
 * the side that refused. {@link PeerAuthenticationError.failure} says which check failed.
 */
export class PeerAuthenticationError extends ConnectionFailedError {
  override name = 'PeerAuthenticationError'
  /** Which check failed. */
  readonly failure: PeerAuthenticationFailure

  constructor(failure: PeerAuthenticationFailure, message: string, options?: { cause?: unknown }) {
    super(`${failure}: ${message}`, options)
    this.failure = failure
  }
}

/** A sealed signal that its addressee refused (why: `SignalRefusal`). */
export class SignalRefusedError extends ConnectionFailedError {
  override name = 'SignalRefusedError'
  readonly reason: SignalRefusal
  constructor(reason: SignalRefusal, options?: { cause?: unknown }) {
    super(`signed signal refused: ${reason}`, options)
    this.reason = reason
  }
}
