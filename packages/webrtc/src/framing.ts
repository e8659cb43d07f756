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
  | { readonly kind: 'malformed'; readonly detail: string }

/** Reassembles the frames of one data channel into messages of at most `maxMessageSize` bytes. */
export class Reassembler {
  readonly #max: number
  #parts: Uint8Array[] = []
  #size = 0

  constructor(maxMessageSize: number) {
    this.#max = maxMessageSize
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
      this.#parts = []
      this.#size = 0
      return { kind: 'oversize', size }
    }
    if (flag === FRAME_MORE) {
      this.#parts.push(chunk)
      this.#size = size
      return { kind: 'partial' }
    }
    if (this.#parts.length === 0) return { kind: 'message', bytes: chunk }
    const out = new Uint8Array(size)
    let at = 0
    for (const part of this.#parts) {
      out.set(part, at)
      at += part.length
    }
    out.set(chunk, at)
    this.#parts = []
    this.#size = 0
    return { kind: 'message', bytes: out }
  }

  #batch(frame: Uint8Array): ReassemblyResult {
    if (this.#parts.length > 0) {
      this.#parts = []
      this.#size = 0
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
