/**
 * The inbound budget of one connection: the memory the remote's unfinished chunked messages may hold over all its
 * channels, the frame-size floor of their chunks, and the deadline by which each unfinished message must progress.
 * A remote that exceeds one is reported once, as a {@link PeerLimitExceededError}; the connection closes.
 *
 * @module
 */
import type { Channel } from '@skipmesh/core'
import { PeerLimitExceededError } from './errors.js'
import { FRAME_OVERHEAD, Reassembler, type ReassemblyBudget, type ReassemblyResult } from './framing.js'

/** What an {@link InboundBudget} enforces and whom it tells. */
export interface InboundBudgetInit {
  /** Bytes the unfinished messages of all channels may hold together. */
  readonly maxInboundBytes: number
  /** Largest message (per channel). */
  readonly maxMessageSize: number
  /** Smallest frame of a chunk that more chunks follow (flag byte included). */
  readonly minFrameSize: number
  /** An unfinished message must get its next chunk within this many milliseconds. */
  readonly reassemblyTimeoutMs: number
  /** The remote exceeded a limit (called at most once; the budget has stopped). */
  onViolation(err: PeerLimitExceededError): void
}

/** The per-connection budget of unfinished inbound messages; it makes each channel's {@link Reassembler}. */
export class InboundBudget implements ReassemblyBudget {
  readonly #init: InboundBudgetInit
  /** Unfinished messages, with their channel names. */
  readonly #partial = new Map<Reassembler, Channel>()
  readonly #all = new Set<Reassembler>()
  #held = 0
  #peak = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = false

  constructor(init: InboundBudgetInit) {
    this.#init = init
  }

  /** Bytes held now by unfinished messages. */
  get held(): number {
    return this.#held
  }

  /** The most bytes unfinished messages ever held at once on this connection. */
  get peak(): number {
    return this.#peak
  }

  /** A reassembler for one channel, drawing on this budget. */
  reassembler(): Reassembler {
    const init = this.#init
    const r = new Reassembler({
      maxMessageSize: init.maxMessageSize,
      minChunk: Math.max(1, init.minFrameSize - FRAME_OVERHEAD),
      budget: this,
    })
    this.#all.add(r)
    return r
  }

  reserve(bytes: number): boolean {
    if (this.#stopped || this.#held + bytes > this.#init.maxInboundBytes) return false
    this.#held += bytes
    if (this.#held > this.#peak) this.#peak = this.#held
    return true
  }

  release(bytes: number): void {
    this.#held -= bytes
  }

  /**
   * Takes what `reassembler` (of `channel`) made of a frame: tracks its unfinished message's deadline, and turns a
   * runt chunk or a refused reservation into a violation. Returns whether the connection may go on.
   */
  check(reassembler: Reassembler, channel: Channel, result: ReassemblyResult): boolean {
    if (result.kind === 'runt') {
      this.#violate(
        new PeerLimitExceededError(
          'frame-size',
          `remote sent a chunk of ${result.size} bytes on ${channel} that more chunks follow, below the floor of ${this.#init.minFrameSize - FRAME_OVERHEAD}`,
        ),
      )
      return false
    }
    if (result.kind === 'over-budget') {
      this.#violate(
        new PeerLimitExceededError(
          'inbound-bytes',
          `unfinished messages of the remote would hold more than ${this.#init.maxInboundBytes} bytes (${channel} needed ${result.size})`,
        ),
      )
      return false
    }
    if (reassembler.partial) {
      this.#partial.set(reassembler, channel)
      this.#arm(this.#init.reassemblyTimeoutMs)
    } else {
      this.#partial.delete(reassembler)
    }
    return true
  }

  /** Drops every unfinished message and stops the deadline. Idempotent. */
  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    for (const r of this.#all) r.reset()
    this.#all.clear()
    this.#partial.clear()
  }

  #violate(err: PeerLimitExceededError): void {
    if (this.#stopped) return
    this.stop()
    this.#init.onViolation(err)
  }

  #arm(delayMs: number): void {
    if (this.#timer !== undefined || this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#sweep()
    }, delayMs)
  }

  /** One timer for the whole connection: fails the first overdue message, or waits for the earliest deadline. */
  #sweep(): void {
    const timeout = this.#init.reassemblyTimeoutMs
    const now = performance.now()
    let earliest = Number.POSITIVE_INFINITY
    for (const [r, channel] of this.#partial) {
      if (!r.partial) {
        this.#partial.delete(r)
        continue
      }
      const idle = now - r.lastProgress
      if (idle >= timeout) {
        this.#violate(
          new PeerLimitExceededError(
            'reassembly-timeout',
            `an unfinished message on ${channel} got no chunk for ${Math.round(idle)} ms (limit ${timeout} ms)`,
          ),
        )
        return
      }
      earliest = Math.min(earliest, timeout - idle)
    }
    if (earliest !== Number.POSITIVE_INFINITY) this.#arm(Math.max(1, Math.ceil(earliest)))
  }
}
