/**
 * The bottom layer of the envelope decoder: a cursor over untrusted MessagePack bytes that never reads past their
 * end, reads the headers (integers, string / bin / map lengths, numbers) and strings, and records the first
 * structure error.
 *
 * @module
 */
import type { DecodeFailureReason } from '../message.js'
import { EMPTY } from './format.js'

/** ASCII strings up to this many bytes are built in JS; longer or non-ASCII ones go through `TextDecoder`. */
const SHORT_STRING = 24

/**
 * A position in `bytes[0, end)` and the first structure error met there. Every read checks the bound; a read that
 * would cross it records `'malformed'` (truncated input). Reused from decode to decode ({@link ByteCursor.start}).
 */
export class ByteCursor {
  readonly #utf8 = new TextDecoder()
  readonly #f64 = new DataView(new ArrayBuffer(8))
  bytes: Uint8Array = EMPTY
  end = 0
  pos = 0
  /** Why the structure is bad; `undefined` while it is fine. */
  structure: DecodeFailureReason | undefined
  detail = ''

  /** Starts over at the beginning of `bytes`, with no structure error. */
  protected start(bytes: Uint8Array): void {
    this.bytes = bytes
    this.end = bytes.length
    this.pos = 0
    this.structure = undefined
    this.detail = ''
  }

  /** Records a structure error; returns false for the caller to return. */
  protected fail(reason: DecodeFailureReason, detail: string): false {
    this.structure = reason
    this.detail = detail
    return false
  }

  protected truncated(): false {
    return this.fail('malformed', 'truncated input')
  }

  /** Reads a big-endian unsigned integer of `n` (1, 2 or 4) bytes; -1 when truncated. */
  protected uint(n: number): number {
    const at = this.pos
    if (at + n > this.end) return -1
    const b = this.bytes
    this.pos = at + n
    if (n === 1) return b[at]!
    if (n === 2) return (b[at]! << 8) | b[at + 1]!
    return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
  }

  /** The byte length of the string whose header byte `t` was just read; -1 if `t` is no string, -2 if truncated. */
  protected strLength(t: number): number {
    if (t >= 0xa0 && t <= 0xbf) return t - 0xa0
    if (t === 0xd9) return this.#lengthOrTruncated(1)
    if (t === 0xda) return this.#lengthOrTruncated(2)
    if (t === 0xdb) return this.#lengthOrTruncated(4)
    return -1
  }

  /** The byte length of the bin whose header byte `t` was just read; -1 if `t` is no bin, -2 if truncated. */
  protected binLength(t: number): number {
    if (t === 0xc4) return this.#lengthOrTruncated(1)
    if (t === 0xc5) return this.#lengthOrTruncated(2)
    if (t === 0xc6) return this.#lengthOrTruncated(4)
    return -1
  }

  /** The entry count of the map whose header byte `t` was just read; -1 if `t` is no map, -2 if truncated. */
  protected mapLength(t: number): number {
    if (t >= 0x80 && t <= 0x8f) return t - 0x80
    if (t === 0xde) return this.#lengthOrTruncated(2)
    if (t === 0xdf) return this.#lengthOrTruncated(4)
    return -1
  }

  #lengthOrTruncated(n: number): number {
    const v = this.uint(n)
    return v < 0 ? -2 : v
  }

  /** Skips `n` bytes; false (truncated) if fewer are left. */
  protected skip(n: number): boolean {
    if (this.pos + n > this.end) return this.truncated()
    this.pos += n
    return true
  }

  /** The string of `length` bytes at `at` (UTF-8; invalid sequences become U+FFFD, as with msgpackr). */
  protected string(at: number, length: number): string {
    const b = this.bytes
    if (length <= SHORT_STRING) {
      let s = ''
      for (let i = at, end = at + length; i < end; i++) {
        const c = b[i]!
        if (c >= 0x80) return this.#utf8.decode(b.subarray(at, at + length))
        s += String.fromCharCode(c)
      }
      return s
    }
    return this.#utf8.decode(b.subarray(at, at + length))
  }

  /**
   * Reads a number (any integer or float type); `undefined` when truncated (a structure error) or when the value
   * is not a number (no structure error: the caller decides). Integers beyond 2^53 lose precision, as with
   * msgpackr's `int64AsType: 'number'`.
   */
  protected number(): number | undefined {
    if (this.pos >= this.end) return this.#truncatedNumber()
    const b = this.bytes
    const t = b[this.pos++]!
    if (t <= 0x7f) return t
    if (t >= 0xe0) return t - 0x100
    switch (t) {
      case 0xcc:
      case 0xcd:
      case 0xce: {
        const u = this.uint(t === 0xcc ? 1 : t === 0xcd ? 2 : 4)
        return u < 0 ? this.#truncatedNumber() : u
      }
      case 0xd0:
      case 0xd1:
      case 0xd2: {
        const n = t === 0xd0 ? 1 : t === 0xd1 ? 2 : 4
        const u = this.uint(n)
        if (u < 0) return this.#truncatedNumber()
        return n === 4 ? u | 0 : (u << (32 - n * 8)) >> (32 - n * 8)
      }
      case 0xcf:
      case 0xd3: {
        const hi = this.uint(4)
        const lo = hi < 0 ? -1 : this.uint(4)
        if (lo < 0) return this.#truncatedNumber()
        return (t === 0xd3 ? hi | 0 : hi) * 4294967296 + lo
      }
      case 0xca:
      case 0xcb: {
        const n = t === 0xca ? 4 : 8
        if (this.pos + n > this.end) return this.#truncatedNumber()
        const f = this.#f64
        for (let i = 0; i < n; i++) f.setUint8(i, b[this.pos + i]!)
        this.pos += n
        return n === 4 ? f.getFloat32(0) : f.getFloat64(0)
      }
      default:
        return undefined
    }
  }

  #truncatedNumber(): undefined {
    this.truncated()
    return undefined
  }
}
