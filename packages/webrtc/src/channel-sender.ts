/**
 * The sending half of one skipmesh channel: its queue, the pump that frames the queue onto the data channel,
 * batching of small messages, and backpressure on the data channel's `bufferedAmount`.
 *
 * @module
 */
import { toAbortError } from '@skipmesh/core'
import { BATCH_LENGTH_BYTES, encodeBatch, encodeFrame, FRAME_OVERHEAD } from './framing.js'
import { deferred, nextTask } from '@skipmesh/core/internal'

/** Messages up to this size are copied at `send` and may be coalesced into batch frames. */
export const COALESCE_MAX_MESSAGE = 2 * 1024
/** Largest batch frame. */
export const BATCH_FRAME_MAX = 16 * 1024
/** Poll interval of the `bufferedamountlow` fallback (some implementations never fire the event). */
const DRAIN_POLL_MS = 5
/** Bytes sent between two reads of `bufferedAmount` (at most). */
const BUFFER_CHECK_BYTES = 64 * 1024

/** What a {@link ChannelSender} needs from its connection. */
export interface ChannelSenderInit {
  /** The skipmesh channel's name (for error messages). */
  readonly name: string
  /** `send` waits while the data channel buffers more than this. */
  readonly highWaterMark: number
  /** A waiting pump resumes once the buffer is at or below this. */
  readonly lowWaterMark: number
  /** Largest data-channel message (read when a pump starts). */
  frameSize(): number
  /** Whether the connection is closed (the pump stops). */
  isClosed(): boolean
  /** `dc.send` threw: the transport failed. */
  onTransportError(what: string, cause: unknown): void
}

interface PendingSend {
  readonly bytes: Uint8Array
  offset: number
  started: boolean
  /** A small message: copied at `send`, may travel in a batch frame with others. */
  readonly small: boolean
  /** Its `send` already resolved (it was copied while the channel was under the high-water mark). */
  early: boolean
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
  unsubscribeAbort: (() => void) | undefined
}

/** How many small messages at the head of `queue` fit one batch frame of at most `max` bytes (at least 1). */
function batchable(queue: readonly PendingSend[], max: number): number {
  let n = 0
  let size = FRAME_OVERHEAD
  for (const p of queue) {
    if (!p.small || p.started) break
    size += BATCH_LENGTH_BYTES + p.bytes.length
    if (n > 0 && size > max) break
    n++
  }
  return Math.max(n, 1)
}

function macrotask(): Promise<void> {
  return new Promise((resolve) => nextTask(resolve))
}

/**
 * Sends the messages of one skipmesh channel, in order, on its data channel: one queue, one pump at a time. A
 * message larger than the frame size is chunked; small ones sent within one task share batch frames. The pump
 * never lets the data channel buffer much more than the high-water mark.
 */
export class ChannelSender {
  readonly #init: ChannelSenderInit
  #dc: RTCDataChannel
  #ready = false
  readonly #queue: PendingSend[] = []
  /** Bytes of the messages in the queue not yet handed to the data channel. */
  #queuedBytes = 0
  /** `bufferedAmount` as last read by the pump. */
  #lastBuffered = 0
  #pumping = false
  #pumpScheduled = false
  /** Resolved when the queue is empty and no pump runs (graceful close waits for it). */
  readonly #emptyWaiters: Array<() => void> = []
  #sentFrames = 0

  constructor(dc: RTCDataChannel, init: ChannelSenderInit) {
    this.#dc = dc
    this.#init = init
  }

  /** Frames handed to the data channel so far. */
  get sentFrames(): number {
    return this.#sentFrames
  }

  /** Moves this sender (and its queue) to another data channel: the one both sides agreed on after a collision. */
  attach(dc: RTCDataChannel): void {
    this.#dc = dc
  }

  /** The remote has the matching data channel: the queue may flow. */
  markReady(): void {
    this.#ready = true
    this.pump()
  }

  /**
   * Queues `bytes` (the caller checked size and state). A small message is copied and its promise resolves at
   * once while the channel is under the high-water mark; any other resolves once its last chunk went out.
   * Rejects with `AbortError` when `signal` aborts before the first chunk went out.
   */
  send(bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const small = bytes.length <= COALESCE_MAX_MESSAGE
    const d = deferred<void>()
    const item: PendingSend = {
      // a small message is copied now: its send may resolve before it leaves, and it may share a frame
      bytes: small ? bytes.slice() : bytes,
      offset: 0,
      started: false,
      small,
      early: false,
      resolve: d.resolve,
      reject: d.reject,
      unsubscribeAbort: undefined,
    }
    this.#queue.push(item)
    this.#queuedBytes += item.bytes.length
    if (small && this.#queuedBytes + this.#lastBuffered <= this.#init.highWaterMark) {
      item.early = true
      item.resolve()
    } else if (signal !== undefined) {
      const onAbort = (): void => {
        if (item.started) return
        const i = this.#queue.indexOf(item)
        if (i >= 0) {
          this.#queue.splice(i, 1)
          this.#queuedBytes -= item.bytes.length
        }
        item.reject(toAbortError(signal))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      item.unsubscribeAbort = () => signal.removeEventListener('abort', onAbort)
    }
    // small messages go out on the next task, so that the ones sent meanwhile share frames
    if (small) this.#schedulePump()
    else this.pump()
    return d.promise
  }

  /** Starts the pump when there is something to send and the data channel can take it. */
  pump(): void {
    if (this.#pumping || !this.#ready || this.#queue.length === 0) return
    if (this.#dc.readyState !== 'open' || this.#init.isClosed()) return
    this.#pumping = true
    void this.#run()
  }

  /** Resolves when nothing is left to send (or the sender failed). */
  whenEmpty(): Promise<void> {
    if (this.#queue.length === 0 && !this.#pumping) return Promise.resolve()
    return new Promise((resolve) => this.#emptyWaiters.push(resolve))
  }

  /**
   * Rejects every queued send that has not resolved yet with `err`, and empties the queue. Returns how many of the
   * dropped sends had already resolved (small ones resolve early): they are lost, and the close reports them.
   */
  fail(err: Error): number {
    let lost = 0
    for (const item of this.#queue.splice(0)) {
      item.unsubscribeAbort?.()
      if (item.early) lost++
      else item.reject(err)
    }
    this.#queuedBytes = 0
    for (const w of this.#emptyWaiters.splice(0)) w()
    return lost
  }

  #schedulePump(): void {
    if (this.#pumping || this.#pumpScheduled) return
    this.#pumpScheduled = true
    nextTask(() => {
      this.#pumpScheduled = false
      this.pump()
    })
  }

  async #run(): Promise<void> {
    const dc = this.#dc
    const high = this.#init.highWaterMark
    const frameSize = this.#init.frameSize()
    const queue = this.#queue
    // reading bufferedAmount crosses into the WebRTC stack (costly per message in some): read it every
    // `checkEvery` bytes, so the buffer exceeds the high-water mark by less than that
    const checkEvery = Math.min(BUFFER_CHECK_BYTES, high)
    const batchMax = Math.min(frameSize, BATCH_FRAME_MAX)
    let burst = 0
    let unchecked = checkEvery
    try {
      while (queue.length > 0 && !this.#init.isClosed()) {
        if (unchecked >= checkEvery) {
          unchecked = 0
          this.#lastBuffered = dc.bufferedAmount
          if (this.#lastBuffered > high) {
            await this.#drained(dc)
            burst = 0
            unchecked = checkEvery
            continue
          }
        }
        if (burst >= high) {
          // some stacks update bufferedAmount only between tasks: never push more than the mark in one go
          await macrotask()
          burst = 0
          unchecked = checkEvery
          continue
        }
        const item = queue[0]!
        let frame: Uint8Array<ArrayBuffer>
        let done: PendingSend[]
        const batched = item.small ? batchable(queue, batchMax) : 1
        if (batched > 1) {
          done = queue.slice(0, batched)
          frame = encodeBatch(done.map((p) => p.bytes))
        } else {
          frame = encodeFrame(item.bytes, item.offset, frameSize)
          done = []
        }
        try {
          dc.send(frame)
        } catch (err) {
          this.#init.onTransportError(`send on data channel ${this.#init.name} failed`, err)
          return
        }
        this.#sentFrames++
        burst += frame.length
        unchecked += frame.length
        if (batched <= 1) {
          item.started = true
          item.offset += frame.length - FRAME_OVERHEAD
          if (item.offset >= item.bytes.length) done.push(item)
        }
        if (done.length > 0) queue.splice(0, done.length)
        for (const p of done) {
          this.#queuedBytes -= p.bytes.length
          p.unsubscribeAbort?.()
          if (!p.early) p.resolve()
        }
      }
    } finally {
      // synchronously after the last look at the queue (before any resolved sender resumes): a send queued from
      // now on starts a new pump
      this.#pumping = false
      if (queue.length === 0) for (const w of this.#emptyWaiters.splice(0)) w()
    }
  }

  /** Resolves once the data channel's buffer is at or below the low-water mark (or the connection closed). */
  async #drained(dc: RTCDataChannel): Promise<void> {
    const low = this.#init.lowWaterMark
    while (dc.bufferedAmount > low && !this.#init.isClosed() && dc.readyState === 'open') {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer)
          dc.removeEventListener('bufferedamountlow', done)
          resolve()
        }
        const timer = setTimeout(done, DRAIN_POLL_MS)
        dc.addEventListener('bufferedamountlow', done)
      })
    }
  }
}
