/**
 * The peer transport skipmesh uses: a {@link PeerTransport} over the standard `RTCPeerConnection` API alone, no
 * negotiation library and no Node globals, so a browser bundle needs no shims. Perfect negotiation (the initiator is the impolite side, the responder the polite
 * one that rolls back its own offer on a collision), trickle ICE, remote candidates held until the remote
 * description is set, local candidates held until the local description left (and, for a libdatachannel offerer,
 * until the answer is applied: see `candidate-gate.ts`).
 *
 * The initiator creates one in-band data channel before its first offer: it gives the offer its `m=application`
 * section whatever the caller creates, and its `open` (on both sides) is the `connect` event; it
 * lands on stream 0 or 1, which skipmesh leaves free. A simple-peer peer on the other side interoperates.
 *
 * Drives `@roamhq/wrtc`, `nodeDatachannelWrtc(polyfill)`, browsers, and the raw `node-datachannel/polyfill`
 * (it never writes to a description, and passes plain `{ type, sdp }` objects).
 *
 * @module
 */
import { ConnectionFailedError, Emitter, type Unsubscribe } from '@skipmesh/core'
import { deferred, nextTask } from '@skipmesh/core/internal'
import { LocalCandidateGate } from './candidate-gate.js'
import type { IceFacts } from './errors.js'
import { IceFactsRecorder } from './ice-facts.js'
import { IceRestartPolicy } from './ice-restart.js'
import {
  type PeerEvents,
  type PeerSignal,
  type PeerTransport,
  type PeerTransportFactory,
  type PeerTransportOptions,
  descriptionFingerprints,
  peerConnectionMaxMessageSize,
} from './peer-transport.js'

/** Label of the initiator's in-band data channel (never carries data). */
export const IN_BAND_CHANNEL_LABEL = 'skipmesh-negotiation'

type Description = Extract<PeerSignal, { type: 'offer' | 'answer' }>
type CandidateInit = Extract<PeerSignal, { type: 'candidate' }>['candidate']

/** A {@link PeerTransport} over one standard `RTCPeerConnection`. */
class NativePeerTransport implements PeerTransport {
  readonly #options: PeerTransportOptions
  readonly #pc: RTCPeerConnection
  readonly #events = new Emitter<PeerEvents>()
  /** Remote signals, applied one after the other. */
  #signals: Promise<void> = Promise.resolve()
  /** Remote candidates that came before the remote description. */
  readonly #early: CandidateInit[] = []
  /** When local candidates may leave: after the first local description, or the answer (libdatachannel offerer). */
  readonly #candidates = new LocalCandidateGate((signal) => {
    if (!this.#isClosed()) this.#events.emit('signal', signal)
  })
  #inBand: RTCDataChannel | undefined
  /**
   * The SDP of the descriptions applied, as passed to the stack: never read back from `pc.localDescription` or
   * `pc.remoteDescription` (a data race in @roamhq/wrtc that crashes the process; see `DescriptionSdps`).
   */
  #sdps: { local: string | undefined; remote: string | undefined } = { local: undefined, remote: undefined }
  /** The local SDP as of the last `stable` signaling state (what a rollback returns to). */
  #stableLocalSdp: string | undefined
  #makingOffer = false
  /** Whether a first offer/answer exchange completed (only then may the responder offer too). */
  #negotiated = false
  /** The fingerprints of the first exchange, once it completed. */
  readonly #fingerprints = deferred<{ local: string; remote: string }>()
  #phase: 'connecting' | 'connected' | 'closed' = 'connecting'
  /** ICE restarts once connected (only the initiator restarts: the remote's manager takes offers from it alone). */
  readonly #restarts: IceRestartPolicy
  /** What ICE did, for the error of an attempt that fails while connecting. */
  readonly #facts: IceFactsRecorder

  constructor(options: PeerTransportOptions) {
    this.#options = options
    const pc = new options.wrtc.RTCPeerConnection(options.config)
    this.#pc = pc
    this.#facts = new IceFactsRecorder(options.config)
    this.#restarts = new IceRestartPolicy({
      ...(this.initiator ? { restart: () => this.#restartIce() } : {}),
      onGiveUp: (why) => this.#fail(new ConnectionFailedError(`the peer connection failed: ${why}`)),
    })
    pc.onicecandidate = (e) => this.#onLocalCandidate(e.candidate)
    pc.onconnectionstatechange = () => this.#onStateChange()
    pc.oniceconnectionstatechange = () => this.#onStateChange()
    // later negotiations (an ICE restart, say); the first one is the initiator's, below
    pc.onnegotiationneeded = () => {
      if (this.#negotiated) void this.#offer()
    }
    pc.ondatachannel = (e) => this.#watchInBand(e.channel)
    if (this.initiator) {
      this.#watchInBand(pc.createDataChannel(IN_BAND_CHANNEL_LABEL))
      // after the current task, so that the channels the caller creates now are known to the stack
      nextTask(() => void this.#offer())
    }
  }

  get initiator(): boolean {
    return this.#options.initiator
  }

  on<E extends keyof PeerEvents>(event: E, handler: PeerEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  signal(data: PeerSignal): void {
    if (this.#phase === 'closed') return
    const step =
      data.type === 'candidate'
        ? () => this.#onRemoteCandidate(data.candidate)
        : () => this.#onDescription(data)
    this.#signals = this.#signals.then(step).catch((err: unknown) => {
      // a renegotiation of an established connection that this stack cannot apply (libdatachannel refuses an ICE
      // restart) leaves the connection as it was: the old path may still work, and the heartbeat bounds it if not
      if (this.#phase !== 'connected') this.#fail(negotiationFailed(err))
    })
  }

  createChannel(label: string, id: number): RTCDataChannel {
    return this.#pc.createDataChannel(label, { negotiated: true, id, ordered: true })
  }

  remoteMaxMessageSize(): number | undefined {
    return peerConnectionMaxMessageSize(this.#pc, this.#sdps)
  }

  restartIce(): void {
    if (this.#phase === 'connected') this.#restarts.suspect()
  }

  iceFacts(): IceFacts {
    return this.#facts.facts()
  }

  fingerprints(): Promise<{ local: string; remote: string }> {
    return this.#fingerprints.promise
  }

  getStats(): Promise<RTCStatsReport> {
    return this.#pc.getStats()
  }

  destroy(): void {
    if (this.#phase === 'closed') return
    this.#phase = 'closed'
    this.#events.clear()
    this.#release()
  }

  /** Makes, sets and signals an offer (perfect negotiation's `negotiationneeded` step). */
  async #offer(): Promise<void> {
    if (this.#phase === 'closed' || this.#makingOffer) return
    this.#makingOffer = true
    try {
      const offer = await this.#pc.createOffer()
      // the transport closed, or a remote offer won meanwhile (this is the polite side); `have-local-offer` is
      // fine: libdatachannel sets its offer by itself as soon as a data channel exists
      if (this.#isClosed() || this.#pc.signalingState === 'have-remote-offer') return
      await this.#pc.setLocalDescription(plain(offer))
      this.#sdps.local = offer.sdp
      this.#emitDescription('offer', offer.sdp)
    } catch (err) {
      this.#fail(negotiationFailed(err))
    } finally {
      this.#makingOffer = false
    }
  }

  async #onDescription(description: Description): Promise<void> {
    const pc = this.#pc
    const collision = description.type === 'offer' && (this.#makingOffer || pc.signalingState !== 'stable')
    // the initiator is impolite: it keeps its own offer and ignores the remote's (its candidates then fail, ignored)
    if (this.initiator && collision) return
    // an answer to an offer rolled back since (a restart offer the remote answered late): nothing to answer
    if (description.type === 'answer' && pc.signalingState === 'stable') return
    // the polite side rolls back explicitly: not every implementation rolls back implicitly
    if (collision) await this.#rollback()
    // a later offer (an ICE restart) gathers anew on this side too: with the freshest TURN credentials
    if (description.type === 'offer' && this.#negotiated) this.#renewIceServers()
    await pc.setRemoteDescription({ type: description.type, sdp: description.sdp })
    this.#sdps.remote = description.sdp
    if (description.type === 'answer') this.#candidates.answered()
    if (description.type === 'offer') {
      const answer = await pc.createAnswer()
      if (this.#isClosed()) return
      await pc.setLocalDescription(plain(answer))
      this.#sdps.local = answer.sdp
      this.#emitDescription('answer', answer.sdp)
    }
    if (pc.signalingState === 'stable') this.#stableLocalSdp = this.#sdps.local
    if (pc.signalingState === 'stable' && !this.#negotiated) {
      this.#negotiated = true
      this.#fingerprints.resolve(descriptionFingerprints(this.#sdps))
      this.#facts.exchanged(this.#sdps.local, this.#sdps.remote)
    }
    // libdatachannel needs its local description too before remote candidates: both are set now
    for (const candidate of this.#early.splice(0)) await this.#addCandidate(candidate)
  }

  async #onRemoteCandidate(candidate: CandidateInit): Promise<void> {
    this.#facts.remoteCandidate(candidate.candidate)
    if (!this.#sdps.remote) {
      this.#early.push(candidate)
      return
    }
    await this.#addCandidate(candidate)
  }

  async #addCandidate(candidate: CandidateInit): Promise<void> {
    if (this.#phase === 'closed') return
    try {
      await this.#pc.addIceCandidate(candidateInit(candidate))
    } catch {
      // a candidate of an ignored offer is expected to fail; any other one that fails (an unresolvable mDNS
      // name, say) is one path less: ICE reports the connection failed when no path is left
    }
  }

  #onLocalCandidate(candidate: RTCIceCandidate | null): void {
    // `null` (and an empty candidate in some stacks) marks the end of gathering: nothing to trickle
    if (this.#phase === 'closed' || candidate === null || !candidate.candidate) return
    this.#facts.localCandidate(candidate.candidate)
    this.#candidates.candidate({
      type: 'candidate',
      candidate: {
        candidate: candidate.candidate,
        sdpMid: candidate.sdpMid ?? null,
        sdpMLineIndex: candidate.sdpMLineIndex ?? null,
      },
    })
  }

  #emitDescription(type: 'offer' | 'answer', sdp: string | undefined): void {
    if (this.#phase === 'closed') return
    if (typeof sdp !== 'string' || sdp === '') throw new Error(`the ${type} has no SDP`)
    this.#events.emit('signal', { type, sdp })
    if (!this.#isClosed()) this.#candidates.described(type, sdp)
  }

  /** The initiator's in-band channel (made here, or announced by the remote): its `open` is `connect`. */
  #watchInBand(channel: RTCDataChannel): void {
    if (this.#inBand !== undefined) {
      // the remote opened a second in-band channel: skipmesh uses none
      channel.close()
      return
    }
    this.#inBand = channel
    channel.onopen = () => this.#onConnected()
    channel.onclose = () => this.#fail(undefined)
    if (channel.readyState === 'open') this.#onConnected()
  }

  /** Rolls back this side's pending offer: the local description is the last stable one again. */
  async #rollback(): Promise<void> {
    const stable = this.#stableLocalSdp
    await this.#pc.setLocalDescription({ type: 'rollback' })
    this.#sdps.local = stable
  }

  /** Whether the transport ended (a method: the phase changes across awaits). */
  #isClosed(): boolean {
    return this.#phase === 'closed'
  }

  #onConnected(): void {
    if (this.#phase !== 'connecting') return
    this.#phase = 'connected'
    this.#facts.connected()
    this.#events.emit('connect')
  }

  #onStateChange(): void {
    const pc = this.#pc
    const ice = pc.iceConnectionState
    // `connectionState` is missing in some implementations: `iceConnectionState` tells the same ends
    const state = pc.connectionState ?? ice
    // (node-datachannel's polyfill may report only `connectionState`)
    if (ice !== undefined) this.#facts.iceState(ice)
    if (state === 'connected') this.#facts.connected()
    if (state === 'closed' || ice === 'closed') {
      this.#fail(undefined)
    } else if (this.#phase === 'connected') {
      // an established connection restarts ICE instead of ending (its data channels and queued data stay)
      this.#restarts.onIceState(state === 'failed' ? 'failed' : ice)
    } else if (state === 'failed' || ice === 'failed') {
      this.#fail(new ConnectionFailedError('the peer connection failed (ICE or DTLS)'))
    }
  }

  /** Restarts ICE (the `negotiationneeded` that follows makes the offer); `false` when the stack cannot. */
  #restartIce(): boolean {
    if (this.#phase !== 'connected') return false
    const pc = this.#pc
    this.#renewIceServers()
    try {
      pc.restartIce()
    } catch {
      // node-datachannel's polyfill: "Not implemented"
      return false
    }
    // the previous restart offer is still unanswered (the remote could not apply it, or the answer was lost): roll
    // it back, so that the restart makes a new offer (negotiationneeded fires only in `stable`)
    if (pc.signalingState === 'have-local-offer' && !this.#makingOffer) this.#rollback().catch(() => {})
    this.#events.emit('restart')
    return true
  }

  /**
   * Gives the peer connection the ICE servers of `currentConfig` (the TURN credentials renewed since): an ICE
   * restart gathers with them. A stack that refuses the change keeps its servers.
   */
  #renewIceServers(): void {
    const current = this.#options.currentConfig?.()
    if (current === undefined) return
    try {
      this.#pc.setConfiguration({ ...this.#pc.getConfiguration(), iceServers: current.iceServers ?? [] })
    } catch {
      // an implementation without setConfiguration, or one that refuses it: the restart uses the old servers
    }
  }

  /** Ends the transport once: `error` (when there is one), then `close`. */
  #fail(err: Error | undefined): void {
    if (this.#phase === 'closed') return
    this.#phase = 'closed'
    if (err !== undefined) this.#events.emit('error', err)
    this.#events.emit('close')
    this.#events.clear()
    this.#release()
  }

  #release(): void {
    const pc = this.#pc
    this.#restarts.stop()
    pc.onicecandidate = null
    pc.onconnectionstatechange = null
    pc.oniceconnectionstatechange = null
    pc.onnegotiationneeded = null
    pc.ondatachannel = null
    if (this.#inBand !== undefined) {
      this.#inBand.onopen = null
      this.#inBand.onclose = null
    }
    this.#early.length = 0
    this.#candidates.clear()
    try {
      pc.close()
    } catch {
      // already closed
    }
  }
}

/** A plain `{ type, sdp }` copy (some implementations return descriptions whose fields are getters). */
function plain(description: RTCSessionDescriptionInit): RTCSessionDescriptionInit {
  return description.sdp === undefined
    ? { type: description.type }
    : { type: description.type, sdp: description.sdp }
}

/** The `RTCIceCandidateInit` of a signalled candidate (absent fields stay absent). */
function candidateInit(c: CandidateInit): RTCIceCandidateInit {
  const init: RTCIceCandidateInit = { candidate: c.candidate }
  if (c.sdpMid !== undefined && c.sdpMid !== null) init.sdpMid = c.sdpMid
  if (c.sdpMLineIndex !== undefined && c.sdpMLineIndex !== null) init.sdpMLineIndex = c.sdpMLineIndex
  return init
}

function negotiationFailed(err: unknown): ConnectionFailedError {
  const message = err instanceof Error ? err.message : String(err)
  return new ConnectionFailedError(`negotiation failed: ${message}`, { cause: err })
}

/**
 * Makes a {@link PeerTransport} over the standard `RTCPeerConnection` API of `options.wrtc`.
 * @example
 * ```ts
 * const a = createNativePeerTransport({ initiator: true, wrtc, config: {} })
 * const b = createNativePeerTransport({ initiator: false, wrtc, config: {} })
 * a.on('signal', (s) => b.signal(s))
 * b.on('signal', (s) => a.signal(s))
 * ```
 */
export const createNativePeerTransport: PeerTransportFactory = (options) => new NativePeerTransport(options)
