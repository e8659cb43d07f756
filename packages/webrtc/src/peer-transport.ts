/**
 * The peer transport contract: one `RTCPeerConnection` and its offer/answer negotiation, as the connections see
 * it ({@link PeerTransport}, made by a {@link PeerTransportFactory}); and the link's largest message, read from the
 * peer connection. No implementation and no WebRTC library here: `peer-native.ts` implements it, and `options.ts`
 * chooses the factory.
 *
 * @module
 */
import type { TypedEvents, Unsubscribe } from '@skipmesh/core'
import type { IceFacts } from './errors.js'
import { sdpFingerprints } from './peer-auth.js'
import type { WrtcImplementation } from './wrtc.js'

/** A signal between two peers' negotiators, as it travels (validated by a valibot schema on arrival). */
export type PeerSignal =
  | { type: 'offer' | 'answer'; sdp: string }
  | {
      type: 'candidate'
      candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }
    }

/** Events of a {@link PeerTransport} (core's event-map style: name → handler). */
export interface PeerEvents {
  /** A signal to relay to the remote's transport (descriptions before candidates). */
  signal: (data: PeerSignal) => void
  /** The peer connection is up (ICE and DTLS done). */
  connect: () => void
  /** The peer connection closed (by the remote or the stack). */
  close: () => void
  /** The negotiation or the peer connection failed; `close` may follow. */
  error: (err: Error) => void
  /**
   * This side restarted ICE on an established connection that lost its path (the data channels stay; the
   * renegotiation travels as `signal`s). Emitted per attempt.
   */
  restart: () => void
}

/**
 * One RTCPeerConnection and its offer/answer negotiation.
 * The initiator makes its offer asynchronously (never before the current task ends), so the channels created
 * right after the factory returns are part of the first offer.
 * Once connected, a lost ICE path (`disconnected` past a short grace, or `failed`) is restarted by the initiator
 * through the same signals, keeping the data channels; the transport ends (`error`, `close`) only when ICE cannot be
 * restarted or stays down for `ICE_RESTART_GIVE_UP_MS` (see `ice-restart.ts`).
 */
export interface PeerTransport extends TypedEvents<PeerEvents> {
  /** Whether this side makes the offer. */
  readonly initiator: boolean
  /** Subscribes to an event of {@link PeerEvents}; returns the function that unsubscribes. */
  on<E extends keyof PeerEvents>(event: E, handler: PeerEvents[E]): Unsubscribe
  /** Hands a validated remote signal to the negotiation. May throw when the negotiation rejects it. */
  signal(data: PeerSignal): void
  /** A negotiated (pre-agreed id) ordered data channel. */
  createChannel(label: string, id: number): RTCDataChannel
  /**
   * The largest message the link carries when known: `sctp.maxMessageSize`, else the smaller of both
   * descriptions' `a=max-message-size` (a remote description without it means 64 KiB, RFC 8841; 0 means any
   * size: `Infinity`); `undefined` before any description.
   */
  remoteMaxMessageSize(): number | undefined
  /**
   * The connection suspects the path (nothing heard from the remote lately): restart ICE now if this side makes
   * offers, the connection is established, and no restart was made lately; otherwise nothing. Optional: a transport
   * without it restarts on its own ICE states only.
   */
  restartIce?(): void
  /**
   * What ICE did so far (exchange completed, connected, candidate types): a connection that fails while connecting
   * reports an `IceConnectionFailedError` from it. Optional: without it, such failures stay plain.
   */
  iceFacts?(): IceFacts
  /**
   * The DTLS certificate fingerprints of this side's and of the remote's description of the first offer/answer
   * exchange, normalized (`sdpFingerprints` in `peer-auth.ts`), once that exchange completed (the data channels may
   * open before the page sees the remote description): the hello's identity proofs cover them. Optional: without
   * it both are `''`, and a remote whose transport reads them is refused when it proves its identity.
   */
  fingerprints?(): Promise<{ local: string; remote: string }>
  /** The statistics of the peer connection. */
  getStats(): Promise<RTCStatsReport>
  /** Closes the RTCPeerConnection synchronously; idempotent; emits nothing afterwards. */
  destroy(): void
}

/** What a {@link PeerTransportFactory} takes. */
export interface PeerTransportOptions {
  /** Whether this side makes the offer. */
  readonly initiator: boolean
  /** The WebRTC implementation whose `RTCPeerConnection` to use. */
  readonly wrtc: WrtcImplementation
  /** The `RTCConfiguration` of the peer connection. */
  readonly config: RTCConfiguration
  /**
   * The configuration as it is now, read again before each ICE restart (on both sides) for its `iceServers`: the
   * TURN credentials the signaling service issued are short-lived and renewed, and a restart with expired ones
   * gathers no relay candidate. Absent: restarts keep `config`'s servers.
   */
  readonly currentConfig?: () => RTCConfiguration
}

/** Makes one {@link PeerTransport}. */
export type PeerTransportFactory = (options: PeerTransportOptions) => PeerTransport

/** A data-channel message size RFC 8841 assumes when the remote description does not state one. */
const RFC_DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024

/** The `a=max-message-size` of an SDP: a number, `Infinity` for 0 (RFC 8841: any size), `undefined` when absent. */
function sdpMaxMessageSize(sdp: string | undefined): number | undefined {
  const m = sdp === undefined ? null : /^a=max-message-size:(\d+)\s*$/m.exec(sdp)
  if (m === null) return undefined
  const n = Number(m[1])
  return n === 0 ? Number.POSITIVE_INFINITY : n
}

/**
 * The SDP of the local and remote descriptions a transport applied, as it passed them to the stack (`undefined`
 * before one). A transport keeps its own copy instead of reading `pc.localDescription`/`pc.remoteDescription`:
 * @roamhq/wrtc serializes a description for those getters on the JavaScript thread while its signaling thread adds
 * gathered (or remote) candidates to the same description, and that race crashes the process (SIGSEGV in
 * `webrtc::SdpSerialize` under `RTCPeerConnection::GetLocalDescription`; see docs/DECISIONS.md).
 */
export interface DescriptionSdps {
  readonly local: string | undefined
  readonly remote: string | undefined
}

/**
 * The largest message `pc`'s link carries when known: the smaller of `sctp.maxMessageSize` and both descriptions'
 * `a=max-message-size` (absent in the remote description: 64 KiB; 0: `Infinity`); `undefined` before either.
 */
export function peerConnectionMaxMessageSize(
  pc: RTCPeerConnection,
  sdps: DescriptionSdps,
): number | undefined {
  const sctpMax = (pc as { sctp?: { maxMessageSize?: number } | null }).sctp?.maxMessageSize
  const fromSdp = descriptionsMaxMessageSize(sdps)
  // the smaller of both: a stack may report its own default in `sctp` before it applied the remote's value
  if (typeof sctpMax === 'number' && sctpMax > 0) return Math.min(sctpMax, fromSdp ?? sctpMax)
  // node-datachannel's polyfill has `sctp === null` until its late `connected` state: the descriptions tell
  return fromSdp
}

/** The normalized DTLS fingerprints of the local and remote descriptions (`''` for a missing one). */
export function descriptionFingerprints(sdps: DescriptionSdps): { local: string; remote: string } {
  return { local: sdpFingerprints(sdps.local), remote: sdpFingerprints(sdps.remote) }
}

/** The smaller of both descriptions' `a=max-message-size` (absent in the remote one: 64 KiB); `undefined` before one. */
function descriptionsMaxMessageSize({ local, remote }: DescriptionSdps): number | undefined {
  if (remote === undefined || remote === '') return undefined
  const fromRemote = sdpMaxMessageSize(remote) ?? RFC_DEFAULT_MAX_MESSAGE_SIZE
  return Math.min(fromRemote, sdpMaxMessageSize(local) ?? Number.POSITIVE_INFINITY)
}
