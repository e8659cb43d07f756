/**
 * The peer transport: one `RTCPeerConnection` and its offer/answer negotiation, behind the {@link PeerTransport}
 * contract, and its simple-peer implementation. This is the only module that imports simple-peer or touches its
 * `RTCPeerConnection`: swapping the negotiation library means writing another {@link PeerTransportFactory} and
 * choosing it in `options.ts`.
 *
 * @module
 */
import { Emitter, type TypedEvents, type Unsubscribe } from '@skipmesh/core'
import SimplePeer from 'simple-peer'
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
}

/**
 * One RTCPeerConnection and its offer/answer negotiation.
 * The initiator makes its offer asynchronously (never before the current task ends), so the channels created
 * right after the factory returns are part of the first offer.
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
}

/** Makes one {@link PeerTransport}. */
export type PeerTransportFactory = (options: PeerTransportOptions) => PeerTransport

/** A data-channel message size RFC 8841 assumes when the remote description does not state one. */
const RFC_DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024

/** The `a=max-message-size` of an SDP: a number, `Infinity` for 0 (RFC 8841: any size), `undefined` when absent. */
export function sdpMaxMessageSize(sdp: string | undefined): number | undefined {
  const m = sdp === undefined ? null : /^a=max-message-size:(\d+)\s*$/m.exec(sdp)
  if (m === null) return undefined
  const n = Number(m[1])
  return n === 0 ? Number.POSITIVE_INFINITY : n
}

/** The {@link PeerSignal} of one of simple-peer's signals; `undefined` for its renegotiation requests. */
function toPeerSignal(data: SimplePeer.SignalData): PeerSignal | undefined {
  if ((data.type === 'offer' || data.type === 'answer') && typeof data.sdp === 'string') {
    return { type: data.type, sdp: data.sdp }
  }
  const c = data.type === 'candidate' ? (data as { candidate?: RTCIceCandidateInit }).candidate : undefined
  if (c !== undefined && typeof c.candidate === 'string') {
    return {
      type: 'candidate',
      candidate: { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null },
    }
  }
  return undefined
}

/** A {@link PeerTransport} over simple-peer (trickle ICE; its own in-band data channel is left unused). */
class SimplePeerTransport implements PeerTransport {
  readonly initiator: boolean
  readonly #peer: SimplePeer.Instance
  readonly #pc: RTCPeerConnection
  readonly #events = new Emitter<PeerEvents>()
  #destroyed = false

  constructor(options: PeerTransportOptions) {
    this.initiator = options.initiator
    this.#peer = new SimplePeer({
      initiator: options.initiator,
      wrtc: options.wrtc as unknown as NonNullable<SimplePeer.Options['wrtc']>,
      config: options.config,
      // simple-peer's own (in-band) data channel is left unused: skipmesh's channels are negotiated
      channelName: 'simple-peer',
      trickle: true,
    })
    this.#pc = (this.#peer as unknown as { _pc: RTCPeerConnection })._pc
    this.#peer.on('signal', (data: SimplePeer.SignalData) => {
      const signal = toPeerSignal(data)
      if (signal !== undefined) this.#events.emit('signal', signal)
    })
    this.#peer.on('connect', () => this.#events.emit('connect'))
    this.#peer.on('close', () => this.#events.emit('close'))
    this.#peer.on('error', (err: Error) => this.#events.emit('error', err))
  }

  on<E extends keyof PeerEvents>(event: E, handler: PeerEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  signal(data: PeerSignal): void {
    if (this.#destroyed) return
    this.#peer.signal(data as SimplePeer.SignalData)
  }

  createChannel(label: string, id: number): RTCDataChannel {
    return this.#pc.createDataChannel(label, { negotiated: true, id, ordered: true })
  }

  remoteMaxMessageSize(): number | undefined {
    const sctpMax = (this.#pc as { sctp?: { maxMessageSize?: number } | null }).sctp?.maxMessageSize
    if (typeof sctpMax === 'number' && sctpMax > 0) return sctpMax
    // node-datachannel's polyfill has `sctp === null` until its late `connected` state: read the descriptions
    let remote: RTCSessionDescription | null = null
    let local: RTCSessionDescription | null = null
    try {
      remote = this.#pc.remoteDescription
      local = this.#pc.localDescription
    } catch {
      // an implementation without descriptions
    }
    if (remote === null) return undefined
    const fromRemote = sdpMaxMessageSize(remote.sdp) ?? RFC_DEFAULT_MAX_MESSAGE_SIZE
    return Math.min(fromRemote, sdpMaxMessageSize(local?.sdp) ?? Number.POSITIVE_INFINITY)
  }

  getStats(): Promise<RTCStatsReport> {
    return this.#pc.getStats()
  }

  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#events.clear()
    // simple-peer reports teardown errors after destroy: keep one listener so they are not thrown
    this.#peer.removeAllListeners('error')
    this.#peer.on('error', () => {})
    try {
      // close the RTCPeerConnection now (simple-peer's destroy closes it only in a microtask), so that resources
      // are released when the caller goes on
      this.#pc.close()
    } catch {
      // already closed
    }
    try {
      this.#peer.destroy()
    } catch {
      // already destroyed
    }
  }
}

/** Makes a {@link PeerTransport} over simple-peer. */
export const createSimplePeerTransport: PeerTransportFactory = (options) => new SimplePeerTransport(options)
