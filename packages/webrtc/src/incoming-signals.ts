/**
 * The receiving side of signaling: what a signal from a remote does to this manager's attempts (a dial request, a
 * bye, an offer that starts or supersedes a session, answers and candidates of the current one), within the
 * inbound bounds. Every signal is untrusted: validated once, and dropped (counted) when it does not fit.
 *
 * @module
 */
import type { Identifier } from '@skipmesh/core'
import { ConnectionFailedError } from '@skipmesh/core'
import type { WebRtcConnection } from './connection.js'
import type { DialSlot, Dialer } from './dialer.js'
import { TransportClosedError } from './errors.js'
import type { InboundSessions } from './inbound-sessions.js'
import type { SignalPayload } from './signaling.js'
import { type PeerMessage, parsePeerMessage } from './signals.js'

/** The counters incoming signals change. */
export interface IncomingSignalCounters {
  signalsReceived: number
  signalsDropped: number
  inboundSessionsRefused: number
}

/** What {@link IncomingSignals} works on: the manager's state, shared. */
export interface IncomingSignalsInit {
  readonly localId: Identifier
  readonly dialer: Dialer
  readonly inbound: InboundSessions
  readonly counters: IncomingSignalCounters
  /** Attempts the remote abandoned (a bye): their failure is not reported back to it. */
  readonly abandonedByRemote: WeakSet<WebRtcConnection>
  /** Whether the manager is ready (else every signal is dropped). */
  isReady(): boolean
  /** Creates the pair's peer connection as the responder (or initiator) of `session`. */
  startAttempt(slot: DialSlot, session: string): WebRtcConnection
}

/** Handles the signals remotes send to one manager; see the module. */
export class IncomingSignals {
  readonly #init: IncomingSignalsInit

  constructor(init: IncomingSignalsInit) {
    this.#init = init
  }

  /** Handles one signal from `from` (authenticated by the signaling); never throws. */
  handle(from: Identifier, session: string, data: SignalPayload): void {
    this.#init.counters.signalsReceived++
    if (!this.#init.isReady() || from.equals(this.#init.localId))
      return void this.#init.counters.signalsDropped++
    const message = parsePeerMessage(data)
    if (message === undefined) return void this.#init.counters.signalsDropped++
    const slot = this.#init.dialer.slot(from)
    try {
      this.#onPeerMessage(slot, session, message)
    } finally {
      // a signal that made nothing (dropped, refused, a bye) leaves no slot behind
      this.#init.dialer.release(slot)
    }
  }

  #onPeerMessage(slot: DialSlot, session: string, message: PeerMessage): void {
    const from = slot.remoteId
    const current = slot.connection
    const weInitiate = this.#init.localId.compare(from) < 0
    if ('dial' in message) {
      if (!weInitiate) return void this.#init.counters.signalsDropped++
      this.#onDialRequest(slot, session)
      return
    }
    if ('bye' in message) {
      if (current?.session === session && current.phase === 'connecting') {
        this.#init.abandonedByRemote.add(current)
        current.destroy(new ConnectionFailedError('the remote abandoned the attempt'))
      }
      return
    }
    const { batch } = message
    // the initiator takes answers, the responder takes offers
    if (batch.some((s) => s.type === (weInitiate ? 'offer' : 'answer'))) {
      return void this.#init.counters.signalsDropped++
    }
    let target = current?.session === session ? current : undefined
    if (target === undefined) {
      if (weInitiate || batch[0]?.type !== 'offer') return void this.#init.counters.signalsDropped++
      // a new offer from the initiator supersedes whatever this pair had, except a responsive open connection
      if (current?.isResponsive()) return void this.#init.counters.signalsDropped++
      // the offer this side asked for is its own dial's; any other spends the remote's budget of new sessions
      const solicited = slot.solicited === session
      if (solicited) slot.solicited = undefined
      else if (!this.#init.inbound.admit(slot.hex, current)) return void this.#refuse()
      if (current !== undefined) {
        // not a failure of the pair: the dials waiting for it wait for the new session
        slot.connection = undefined
        current.destroy(new TransportClosedError('superseded by a new session'))
      }
      target = this.#init.startAttempt(slot, session)
      if (!solicited) this.#init.inbound.track(target, slot.hex)
    }
    for (const signal of batch) target.signal(signal)
  }

  /** An offer or dial request over the inbound bounds: no peer connection, counted. */
  #refuse(): void {
    this.#init.counters.signalsDropped++
    this.#init.counters.inboundSessionsRefused++
  }

  /** The remote asks this side to dial: an attempt under the request's session, within the inbound bounds. */
  #onDialRequest(slot: DialSlot, session: string): void {
    const current = slot.connection
    if (current?.phase === 'connecting') return
    // the remote has no connection to us: an open one here is stale, unless it is responsive
    if (current?.isResponsive()) return void this.#init.counters.signalsDropped++
    if (!this.#init.inbound.admit(slot.hex)) return void this.#refuse()
    const start = (s: DialSlot): void => this.#init.inbound.track(this.#init.startAttempt(s, session), s.hex)
    if (current?.phase === 'closing') {
      void current.whenClosed().then(() => {
        if (!this.#init.isReady()) return
        // the slot may have been forgotten meanwhile (idle once the old connection went): the remote's current one
        const now = this.#init.dialer.slot(slot.remoteId)
        if (now.connection === undefined) start(now)
        this.#init.dialer.release(now)
      })
      return
    }
    if (current?.phase === 'open') current.destroy(new TransportClosedError('the remote dialled again'))
    start(slot)
  }
}
