/**
 * Data-channel framing: every data-channel message is one frame, a flag byte followed by a chunk of the skipmesh
 * message. Flag {@link FRAME_LAST} ends a message, {@link FRAME_MORE} says more chunks of it follow.
 *
 * @module
 */

/** Flag of the last (or only) chunk of a message. */
export const FRAME_LAST = 0
/** Flag of a chunk that more chunks of the same message follow. */
export const FRAME_MORE = 1
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

/** What {@link Reassembler.push} made of one frame. */
export type ReassemblyResult =
  | { readonly kind: 'message'; readonly bytes: Uint8Array }
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
}
