/**
 * The outgoing negotiation signals of one connection attempt, coalesced into batches.
 *
 * @module
 */
import type { PeerSignal } from './peer-transport.js'
import { MAX_SIGNAL_BATCH } from './signals.js'

/**
 * How long an outbox holds a batch open for more signals, by default (milliseconds): 0, what one microtask produced
 * leaves at the end of it. A browser's stack reports its description and then each candidate in a task of its own,
 * a millisecond or two apart, so a hold of ~10 ms makes the description and the candidates gathered with it one
 * relayed signal instead of one per candidate (docs/benchmarks/signaling-brokered.md). It is opt-in: with 10 ms as
 * the default, a dial to a raw peer (test/peer-limits.test.ts, node-datachannel) hung in 2 of about 12 runs and the
 * frozen-tab e2e left a woken node unlinked in 2 of 4, against 0 of 8 and 0 of 4 with 0; the cause is not found
 * (docs/DECISIONS.md, "The signal hold is opt-in").
 */
export const DEFAULT_SIGNAL_HOLD_MS = 0

/**
 * Collects the signals one attempt's peer transport emits and hands them on in batches of at most
 * {@link MAX_SIGNAL_BATCH}: a batch leaves `holdMs` after its first signal, or at the end of the microtask with
 * `holdMs` 0. Each side's first batch of a session starts with its description: the responder starts a new session
 * only on a batch whose first signal is an offer, and no candidate leaves before the description.
 */
export class SignalOutbox {
  readonly #send: (batch: PeerSignal[]) => void
  readonly #holdMs: number
  readonly #items: PeerSignal[] = []
  #descriptionSeen = false
  #scheduled = false
  #timer: ReturnType<typeof setTimeout> | undefined
  #closed = false

  /**
   * @param send gets each batch (never empty)
   * @param holdMs how long a batch waits for more signals (milliseconds; 0: to the end of the microtask)
   */
  constructor(send: (batch: PeerSignal[]) => void, holdMs = DEFAULT_SIGNAL_HOLD_MS) {
    this.#send = send
    this.#holdMs = holdMs
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
    if (this.#holdMs > 0) this.#timer = setTimeout(() => this.#flush(), this.#holdMs)
    else queueMicrotask(() => this.#flush())
  }

  /**
   * Accepts no more signals (the attempt or its connection ended). What it still holds is dropped: the attempt's
   * session is over, and a late offer would make the remote start a session nobody completes.
   */
  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#items.length = 0
  }

  #flush(): void {
    this.#scheduled = false
    this.#timer = undefined
    if (this.#closed) return
    const items = this.#items.splice(0)
    for (let i = 0; i < items.length; i += MAX_SIGNAL_BATCH) this.#send(items.slice(i, i + MAX_SIGNAL_BATCH))
  }
}
