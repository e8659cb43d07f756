/**
 * Data-channel framing: every data-channel message is one frame, a flag byte followed by a chunk of the skipmesh
 * message. Flag {@link FRAME_LAST} ends a message, {@link FRAME_MORE} says more chunks of it follow, and
 * {@link FRAME_BATCH} carries several whole small messages, each prefixed with its length (u32, big-endian).
 *
 * @module
 */

/** Flag of the last (or only) chunk of a message. */
export const FRAME_LAST = 0
/** Flag of a chunk that more chunks of the same message follow. */
export const FRAME_MORE = 1
/** Flag of a frame holding several whole messages, each as a 4-byte big-endian length and the bytes. */
export const FRAME_BATCH = 2
/** Bytes of the length prefix of each message in a batch frame. */
export const BATCH_LENGTH_BYTES = 4
/** Bytes of framing per data-channel message. */
export const FRAME_OVERHEAD = 1

/** How many frames a message of `size` bytes takes with frames of at most `frameSize` bytes. */
export function frameCount(size: number, frameSize: number): number {
  const chunk = frameSize - FRAME_OVERHEAD
  return size === 0 ? 1 : Math.ceil(size / chunk)
}

/** The frame carrying `bytes[offset, offset + chunk)`, where `chunk` is at most `frameSize - 1`. */
export function encodeFrame(bytes: Uint8Array, offset: number, frameSize: number): Uint8Array<ArrayBuffer> {
  const end = Math.min(bytes.length, offset + frameSize - FRAME_OVERHEAD)
  const frame = new Uint8Array(FRAME_OVERHEAD + end - offset)
  frame[0] = end < bytes.length ? FRAME_MORE : FRAME_LAST
  frame.set(bytes.subarray(offset, end), FRAME_OVERHEAD)
  return frame
}

/** The batch frame carrying `messages` (whole messages; the caller keeps the total within the frame size). */
export function encodeBatch(messages: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = FRAME_OVERHEAD
  for (const m of messages) size += BATCH_LENGTH_BYTES + m.length
  const frame = new Uint8Array(size)
  const view = new DataView(frame.buffer)
  frame[0] = FRAME_BATCH
  let at = FRAME_OVERHEAD
  for (const m of messages) {
    view.setUint32(at, m.length)
    frame.set(m, at + BATCH_LENGTH_BYTES)
    at += BATCH_LENGTH_BYTES + m.length
  }
  return frame
}

/** What {@link Reassembler.push} made of one frame. */
export type ReassemblyResult =
  | { readonly kind: 'message'; readonly bytes: Uint8Array }
  | { readonly kind: 'batch'; readonly messages: Uint8Array[] }
  | { readonly kind: 'partial' }
  | { readonly kind: 'oversize'; readonly size: number }
  /** A chunk that more chunks follow, below the frame-size floor (the message is dropped). */
  | { readonly kind: 'runt'; readonly size: number }
  /** The memory the unfinished message needs was refused by the budget (the message is dropped). */
  | { readonly kind: 'over-budget'; readonly size: number }
  | { readonly kind: 'malformed'; readonly detail: string }

/** Where a {@link Reassembler} takes the memory of an unfinished message from. */
export interface ReassemblyBudget {
  /** Takes `bytes` more; false (nothing taken) when that would exceed the budget. */
  reserve(bytes: number): boolean
  /** Gives back `bytes`. */
  release(bytes: number): void
}

/** A budget without a limit. */
export const UNLIMITED_REASSEMBLY: ReassemblyBudget = { reserve: () => true, release: () => {} }

/** What a {@link Reassembler} enforces. */
export interface ReassemblerLimits {
  /** Largest message, in bytes. */
  readonly maxMessageSize: number
  /** Smallest payload of a chunk that more chunks follow. @default 1 */
  readonly minChunk?: number
  /** Memory of unfinished messages. @default {@link UNLIMITED_REASSEMBLY} */
  readonly budget?: ReassemblyBudget
}

/**
 * Reassembles the frames of one data channel into messages of at most `maxMessageSize` bytes. An unfinished
 * message is held in one contiguous buffer (grown by doubling), whatever its chunk sizes, and every byte of that
 * buffer is taken from the budget first.
 */
export class Reassembler {
  readonly #max: number
  readonly #minChunk: number
  readonly #budget: ReassemblyBudget
  #buffer: Uint8Array | undefined
  #size = 0
  #lastProgress = 0

  /** `limits` may be just the `maxMessageSize`. */
  constructor(limits: ReassemblerLimits | number) {
    if (typeof limits === 'number') limits = { maxMessageSize: limits }
    this.#max = limits.maxMessageSize
    this.#minChunk = limits.minChunk ?? 1
    this.#budget = limits.budget ?? UNLIMITED_REASSEMBLY
  }

  /** Whether a chunked message is unfinished. */
  get partial(): boolean {
    return this.#buffer !== undefined
  }

  /** Bytes held for the unfinished message (its buffer's capacity). */
  get held(): number {
    return this.#buffer?.length ?? 0
  }

  /** When the unfinished message last got a chunk (`performance.now()` milliseconds). */
  get lastProgress(): number {
    return this.#lastProgress
  }

  /** Drops the unfinished message, if any, and gives its memory back. */
  reset(): void {
    if (this.#buffer !== undefined) this.#budget.release(this.#buffer.length)
    this.#buffer = undefined
    this.#size = 0
  }

  /** Takes one frame (untrusted). Never throws. */
  push(frame: Uint8Array): ReassemblyResult {
    if (frame.length < FRAME_OVERHEAD) return { kind: 'malformed', detail: 'empty frame' }
    const flag = frame[0]
    if (flag === FRAME_BATCH) return this.#batch(frame)
    if (flag !== FRAME_LAST && flag !== FRAME_MORE)
      return { kind: 'malformed', detail: `unknown flag ${flag}` }
    const chunk = frame.subarray(FRAME_OVERHEAD)
    const size = this.#size + chunk.length
    if (size > this.#max) {
      this.reset()
      return { kind: 'oversize', size }
    }
    if (flag === FRAME_MORE && chunk.length < this.#minChunk) {
      this.reset()
      return { kind: 'runt', size: chunk.length }
    }
    if (flag === FRAME_LAST && this.#buffer === undefined) return { kind: 'message', bytes: chunk }
    if (!this.#fit(size)) {
      this.reset()
      return { kind: 'over-budget', size }
    }
    const buffer = this.#buffer!
    buffer.set(chunk, this.#size)
    this.#size = size
    this.#lastProgress = performance.now()
    if (flag === FRAME_MORE) return { kind: 'partial' }
    const bytes = buffer.subarray(0, size)
    this.reset()
    return { kind: 'message', bytes }
  }

  /** Makes the buffer hold `size` bytes, taking its growth from the budget first. */
  #fit(size: number): boolean {
    const capacity = this.#buffer?.length ?? 0
    if (size <= capacity) return true
    const next = Math.min(this.#max, Math.max(size, 2 * capacity))
    if (!this.#budget.reserve(next - capacity)) return false
    const grown = new Uint8Array(next)
    if (this.#buffer !== undefined) grown.set(this.#buffer.subarray(0, this.#size))
    this.#buffer = grown
    return true
  }

  #batch(frame: Uint8Array): ReassemblyResult {
    if (this.#buffer !== undefined) {
      this.reset()
      return { kind: 'malformed', detail: 'batch frame inside a chunked message' }
    }
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
    const messages: Uint8Array[] = []
    let at = FRAME_OVERHEAD
    while (at < frame.length) {
      if (at + BATCH_LENGTH_BYTES > frame.length)
        return { kind: 'malformed', detail: 'truncated batch length' }
      const length = view.getUint32(at)
      at += BATCH_LENGTH_BYTES
      if (length > this.#max) return { kind: 'oversize', size: length }
      if (at + length > frame.length) return { kind: 'malformed', detail: 'truncated batch message' }
      messages.push(frame.subarray(at, at + length))
      at += length
    }
    if (messages.length === 0) return { kind: 'malformed', detail: 'empty batch' }
    return { kind: 'batch', messages }
  }
}
