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
 * frozen-tab e2e left a woken node unlinked in 2 of 4, against 0 of 8 and 0 of 4 with 0 (docs/DECISIONS.md, "The
 * signal hold is opt-in"). The raw peer's case was the held answer (see {@link SignalOutbox}), which now leaves at
 * once; the frozen-tab case was not rerun with it.
 */
export const DEFAULT_SIGNAL_HOLD_MS = 0

/**
 * Collects the signals one attempt's peer transport emits and hands them on in batches of at most
 * {@link MAX_SIGNAL_BATCH}: a batch leaves `holdMs` after its first signal, or at the end of the microtask with
 * `holdMs` 0. Each side's first batch of a session starts with its description: the responder starts a new session
 * only on a batch whose first signal is an offer, and no candidate leaves before the description.
 *
 * An answer is never held: it leaves at the end of its microtask, with what is queued then. The answerer's ICE agent
 * has the offer and its candidates and starts its checks (and, once a pair answers, its DTLS handshake) as soon as
 * its answer is set, while the offerer's agent knows nothing of it until the answer arrives; a held answer made that
 * window a timer long, and libdatachannel then lost the connection now and then (a raw peer's dial in
 * `peer-limits.test.ts` closed at once or hung with a 10 ms hold: docs/DECISIONS.md, "The answer is never held").
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

  /** Queues `signal` (a description goes first; an answer leaves at the end of the microtask). Ignored once closed. */
  push(signal: PeerSignal): void {
    if (this.#closed) return
    if (signal.type === 'offer' || signal.type === 'answer') {
      this.#items.unshift(signal)
      this.#descriptionSeen = true
    } else {
      this.#items.push(signal)
    }
    if (!this.#descriptionSeen) return
    if (signal.type === 'answer' && this.#timer !== undefined) {
      // a held batch leaves with the answer, now
      clearTimeout(this.#timer)
      this.#timer = undefined
      this.#scheduled = false
    }
    if (this.#scheduled) return
    this.#scheduled = true
    if (this.#holdMs > 0 && signal.type !== 'answer')
      this.#timer = setTimeout(() => this.#flush(), this.#holdMs)
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
