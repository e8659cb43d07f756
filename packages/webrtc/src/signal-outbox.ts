/**
 * The outgoing negotiation signals of one connection attempt, coalesced into batches.
 *
 * @module
 */
import type { PeerSignal } from './peer-transport.js'
import { MAX_SIGNAL_BATCH } from './signals.js'

/**
 * Collects the signals one attempt's peer transport emits and hands them on in batches of at most
 * {@link MAX_SIGNAL_BATCH}, once per microtask. Each side's first batch of a session starts with its description: the
 * responder starts a new session only on a batch whose first signal is an offer, and no candidate leaves before the
 * description.
 */
export class SignalOutbox {
  readonly #send: (batch: PeerSignal[]) => void
  readonly #items: PeerSignal[] = []
  #descriptionSeen = false
  #scheduled = false
  #closed = false

  /** `send` gets each batch (never empty). */
  constructor(send: (batch: PeerSignal[]) => void) {
    this.#send = send
  }

  /** Queues `signal` (a description goes first). Ignored once closed. */
  push(signal: PeerSignal): void {
    if (this.#closed) return
    if (signal.type === 'offer' || signal.type === 'answer') {
      this.#items.unshift(signal)
      this.#descriptionSeen = true
    } else {
      this.#items.push(signal)
    }
    if (!this.#descriptionSeen || this.#scheduled) return
    this.#scheduled = true
    queueMicrotask(() => {
      this.#scheduled = false
      const items = this.#items.splice(0)
      for (let i = 0; i < items.length; i += MAX_SIGNAL_BATCH)
        this.#send(items.slice(i, i + MAX_SIGNAL_BATCH))
    })
  }

  /** Accepts no more signals (the attempt opened or ended); a batch already scheduled still leaves. */
  close(): void {
    this.#closed = true
  }
}
