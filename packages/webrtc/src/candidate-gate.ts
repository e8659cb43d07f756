/**
 * When a peer transport's local ICE candidates may leave.
 *
 * Always after the first local description (a candidate gathered before it must follow it: node-datachannel gathers
 * as soon as a data channel exists). A libdatachannel offerer holds them further, until the remote answer is
 * applied: libdatachannel hands the answer's ICE credentials to its ICE agent before it stores the answer's DTLS
 * fingerprint, and if the answerer can already reach it (the answerer had the offerer's candidates, checked them
 * and started DTLS), ICE connects and DTLS verifies the answerer's certificate in between, against no fingerprint:
 * the handshake fails ("certificate verify failed"), the peer connection closes, and applying the answer throws
 * "Got a remote candidate without ICE transport". An answerer without the offerer's candidates has no address to
 * check, so nothing reaches the offerer before its answer is stored (libdatachannel adds the answer's own
 * candidates after it stored the answer).
 *
 * @module
 */
import type { PeerSignal } from './peer-transport.js'

type CandidateSignal = Extract<PeerSignal, { type: 'candidate' }>

/** Whether `sdp` was made by libdatachannel (node-datachannel): its origin line's user name is `rtc`. */
export function isLibdatachannelSdp(sdp: string): boolean {
  return /^o=rtc /m.test(sdp)
}

/** Holds a transport's local candidates until they may leave (see the module note), then passes them on in order. */
export class LocalCandidateGate {
  readonly #send: (signal: CandidateSignal) => void
  /** The candidates held; `undefined` once they flow. */
  #held: CandidateSignal[] | undefined = []
  #untilAnswer = false

  /** @param send emits one candidate signal (called in gathering order). */
  constructor(send: (signal: CandidateSignal) => void) {
    this.#send = send
  }

  /** A local candidate: sent now, or held. */
  candidate(signal: CandidateSignal): void {
    if (this.#held === undefined) this.#send(signal)
    else this.#held.push(signal)
  }

  /**
   * A local description was signalled: the candidates flow, unless it is a libdatachannel offer made before the
   * first answer (they then wait for {@link answered}).
   */
  described(type: 'offer' | 'answer', sdp: string): void {
    if (this.#held === undefined) return
    if (type === 'offer' && isLibdatachannelSdp(sdp)) {
      this.#untilAnswer = true
      return
    }
    this.#open()
  }

  /** The remote answer is applied: candidates held for it flow. */
  answered(): void {
    if (this.#untilAnswer) this.#open()
  }

  /** Drops what is held (the transport closed). */
  clear(): void {
    if (this.#held !== undefined) this.#held.length = 0
  }

  #open(): void {
    const held = this.#held ?? []
    this.#held = undefined
    this.#untilAnswer = false
    for (const signal of held) this.#send(signal)
  }
}
