/**
 * The decoding half of the envelope codec: one pass over untrusted bytes that checks the structure and extracts the
 * fields as it goes (see `createMsgpackCodec` for the verdicts).
 *
 * @module
 */
import type { Channel } from '../channel.js'
import { IDENTIFIER_LENGTH } from '../identifier.js'
import { readRpcHeader } from '../rpc-header.js'
import {
  isForbiddenKey,
  EMPTY,
  MAX_DEPTH,
  CHANNEL_BYTES,
  MAX_CHANNEL_LENGTH,
  C,
  S,
  P,
  M,
  type MetadataLimits,
  R,
  fieldOf,
} from './format.js'
import type { DecodeFailureReason, DecodeHints, RpcHeader } from '../message.js'

/** Placeholder between decodes (never returned: a decode that succeeds made its own metadata object). */
const NO_METADATA: Record<string, string> = Object.freeze({})

/** ASCII strings up to this many bytes are built in JS; longer or non-ASCII ones go through `TextDecoder`. */
const SHORT_STRING = 24

/**
 * One decode in progress. A codec keeps one and reuses it (decode is synchronous), so a decode allocates only
 * what it returns.
 *
 * Structure errors (truncation, invalid or reserved bytes, nesting, extension types, non-string keys,
 * forbidden keys, trailing bytes) stop the walk at once. Field errors (unknown, wrong type, invalid channel
 * or sender, duplicates) are only recorded and the walk goes on, so that a structure error anywhere in the
 * input wins, and the field errors are then reported in a fixed order: exactly the verdicts of the earlier
 * two-pass decoder (structure scan, then msgpackr, then field checks).
 */
export class EnvelopeReader {
  readonly #limits: MetadataLimits
  readonly #utf8 = new TextDecoder()
  readonly #f64 = new DataView(new ArrayBuffer(8))
  bytes: Uint8Array = new Uint8Array(0)
  end = 0
  pos = 0
  /** Why the structure is bad; `undefined` while it is fine. */
  structure: DecodeFailureReason | undefined
  detail = ''

  // ---- fields seen so far
  seen = 0
  duplicate = false
  unknownKey = ''
  hasUnknown = false
  channelFault: DecodeFailureReason | undefined
  senderFault: DecodeFailureReason | undefined
  payloadFault = false
  metadataFault = false
  timestampFault = false
  rpcFault = false
  rpc: RpcHeader | undefined = undefined
  channel = ''
  senderAt = 0
  payloadAt = 0
  payloadLength = 0
  metadata: Record<string, string> = NO_METADATA
  timestamp = 0

  constructor(limits: MetadataLimits) {
    this.#limits = limits
  }

  reset(bytes: Uint8Array): void {
    this.bytes = bytes
    this.end = bytes.length
    this.pos = 0
    this.structure = undefined
    this.detail = ''
    this.seen = 0
    this.duplicate = false
    this.hasUnknown = false
    this.unknownKey = ''
    this.channelFault = undefined
    this.senderFault = undefined
    this.payloadFault = false
    this.metadataFault = false
    this.timestampFault = false
    this.rpcFault = false
    this.rpc = undefined
  }

  /** Drops references to the last input and output, so the codec does not keep them alive. */
  release(): void {
    this.bytes = EMPTY
    this.channel = ''
    this.metadata = NO_METADATA
  }

  #fail(reason: DecodeFailureReason, detail: string): false {
    this.structure = reason
    this.detail = detail
    return false
  }

  #truncated(): false {
    return this.#fail('malformed', 'truncated input')
  }

  /** Reads a big-endian unsigned integer of `n` (1, 2 or 4) bytes; -1 when truncated. */
  #uint(n: number): number {
    const at = this.pos
    if (at + n > this.end) return -1
    const b = this.bytes
    this.pos = at + n
    if (n === 1) return b[at]!
    if (n === 2) return (b[at]! << 8) | b[at + 1]!
    return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
  }

  /** The byte length of the string whose header byte `t` was just read; -1 if `t` is no string, -2 if truncated. */
  #strLength(t: number): number {
    if (t >= 0xa0 && t <= 0xbf) return t - 0xa0
    if (t === 0xd9) return this.#lengthOrTruncated(1)
    if (t === 0xda) return this.#lengthOrTruncated(2)
    if (t === 0xdb) return this.#lengthOrTruncated(4)
    return -1
  }

  /** The byte length of the bin whose header byte `t` was just read; -1 if `t` is no bin, -2 if truncated. */
  #binLength(t: number): number {
    if (t === 0xc4) return this.#lengthOrTruncated(1)
    if (t === 0xc5) return this.#lengthOrTruncated(2)
    if (t === 0xc6) return this.#lengthOrTruncated(4)
    return -1
  }

  /** The entry count of the map whose header byte `t` was just read; -1 if `t` is no map, -2 if truncated. */
  #mapLength(t: number): number {
    if (t >= 0x80 && t <= 0x8f) return t - 0x80
    if (t === 0xde) return this.#lengthOrTruncated(2)
    if (t === 0xdf) return this.#lengthOrTruncated(4)
    return -1
  }

  #lengthOrTruncated(n: number): number {
    const v = this.#uint(n)
    return v < 0 ? -2 : v
  }

  /** Skips `n` bytes; false (truncated) if fewer are left. */
  #skip(n: number): boolean {
    if (this.pos + n > this.end) return this.#truncated()
    this.pos += n
    return true
  }

  /**
   * Walks any one value without building it, checking its structure: well-formed, no extension types, only
   * string map keys, none of them forbidden, nesting at most {@link MAX_DEPTH}. Linear in the input: every
   * declared element consumes at least one byte, so bogus lengths fail as truncated.
   */
  skipValue(depth: number): boolean {
    if (depth > MAX_DEPTH) return this.#fail('malformed', 'nested too deeply')
    if (this.pos >= this.end) return this.#truncated()
    const t = this.bytes[this.pos++]!
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return true
    if (t >= 0x80 && t <= 0x8f) return this.#skipMap(t - 0x80, depth)
    if (t >= 0x90 && t <= 0x9f) return this.#skipArray(t - 0x90, depth)
    const sl = this.#strLength(t)
    if (sl !== -1) return sl === -2 ? this.#truncated() : this.#skip(sl)
    switch (t) {
      case 0xc4:
      case 0xc5:
      case 0xc6: {
        const bl = this.#binLength(t)
        return bl === -2 ? this.#truncated() : this.#skip(bl)
      }
      case 0xca:
      case 0xce:
      case 0xd2:
        return this.#skip(4)
      case 0xcb:
      case 0xcf:
      case 0xd3:
        return this.#skip(8)
      case 0xcc:
      case 0xd0:
        return this.#skip(1)
      case 0xcd:
      case 0xd1:
        return this.#skip(2)
      case 0xdc:
      case 0xdd: {
        const n = this.#uint(t === 0xdc ? 2 : 4)
        return n < 0 ? this.#truncated() : this.#skipArray(n, depth)
      }
      case 0xde:
      case 0xdf: {
        const n = this.#uint(t === 0xde ? 2 : 4)
        return n < 0 ? this.#truncated() : this.#skipMap(n, depth)
      }
      case 0xc7:
      case 0xc8:
      case 0xc9:
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        return this.#fail('wrong-type', `extension type 0x${t.toString(16)} not allowed`)
      default:
        return this.#fail('malformed', `invalid type byte 0x${t.toString(16)}`)
    }
  }

  #skipArray(n: number, depth: number): boolean {
    for (let i = 0; i < n; i++) if (!this.skipValue(depth + 1)) return false
    return true
  }

  #skipMap(n: number, depth: number): boolean {
    for (let i = 0; i < n; i++) {
      if (this.#key() < 0) return false
      if (!this.skipValue(depth + 1)) return false
    }
    return true
  }

  /**
   * Reads a map key: must be a string and not a forbidden one. Returns its byte length (the bytes start at
   * `pos - length`), or -1 after a structure error.
   */
  #key(): number {
    if (this.pos >= this.end) return this.#truncatedKey()
    const kl = this.#strLength(this.bytes[this.pos++]!)
    if (kl === -1) {
      this.#fail('wrong-type', 'map key is not a string')
      return -1
    }
    if (kl === -2 || this.pos + kl > this.end) return this.#truncatedKey()
    if (isForbiddenKey(this.bytes, this.pos, kl)) {
      this.#fail('forbidden-key', 'forbidden map key')
      return -1
    }
    this.pos += kl
    return kl
  }

  #truncatedKey(): number {
    this.#truncated()
    return -1
  }

  /** The string of `length` bytes at `at` (UTF-8; invalid sequences become U+FFFD, as with msgpackr). */
  #string(at: number, length: number): string {
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

  /** Reads the top-level map; false after a structure error. */
  envelope(hints: DecodeHints | undefined): boolean {
    if (this.pos >= this.end) return this.#truncated()
    const t = this.bytes[this.pos]!
    if (!((t >= 0x80 && t <= 0x8f) || t === 0xde || t === 0xdf)) {
      // not a map: a structure error still wins, otherwise it is the wrong type
      if (!this.skipValue(0)) return false
      this.seen = -1
      return true
    }
    this.pos++
    const n = this.#mapLength(t)
    if (n < 0) return this.#truncated()
    for (let i = 0; i < n; i++) {
      const kl = this.#key()
      if (kl < 0) return false
      const field = kl === 1 ? fieldOf(this.bytes[this.pos - 1]!) : 0
      if (field === 0) {
        if (!this.hasUnknown) {
          this.hasUnknown = true
          this.unknownKey = this.#string(this.pos - kl, Math.min(kl, 32))
        }
        if (!this.skipValue(1)) return false
        continue
      }
      if ((this.seen & field) !== 0) this.duplicate = true
      this.seen |= field
      const start = this.pos
      let ok: boolean
      switch (field) {
        case C:
          ok = this.#channel(hints?.channel)
          break
        case S:
          ok = this.#sender()
          break
        case P:
          ok = this.#payload()
          break
        case M:
          ok = this.#metadata()
          break
        case R:
          ok = this.#rpc()
          break
        default:
          ok = this.#timestamp()
      }
      if (!ok) {
        // a wrongly typed field: walk it again generically, for the structure errors it may hide
        if (this.structure !== undefined) return false
        this.pos = start
        if (!this.skipValue(1)) return false
      }
    }
    return true
  }

  /** Reads `c`; false if it is not a string (the caller re-walks it). */
  #channel(hint: Channel | undefined): boolean {
    if (this.pos >= this.end) return this.#truncated()
    const length = this.#strLength(this.bytes[this.pos++]!)
    if (length === -1) {
      this.channelFault = 'wrong-type'
      return false
    }
    if (length === -2 || this.pos + length > this.end) return this.#truncated()
    const b = this.bytes
    const at = this.pos
    this.pos += length
    let valid = length >= 1 && length <= MAX_CHANNEL_LENGTH
    let same = hint !== undefined && hint.length === length
    for (let i = 0; i < length && valid; i++) {
      const c = b[at + i]!
      valid = CHANNEL_BYTES[c] === 1
      if (same) same = hint!.charCodeAt(i) === c
    }
    if (!valid) {
      this.channelFault = 'invalid-channel'
      return true
    }
    this.channelFault = undefined
    this.channel = same ? hint! : this.#string(at, length)
    return true
  }

  /** Reads `s`; false if it is not a bin. Keeps only its offset: the Identifier is built (or reused) later. */
  #sender(): boolean {
    if (this.pos >= this.end) return this.#truncated()
    const length = this.#binLength(this.bytes[this.pos++]!)
    if (length === -1) {
      this.senderFault = 'wrong-type'
      return false
    }
    if (length === -2 || this.pos + length > this.end) return this.#truncated()
    this.senderAt = this.pos
    this.pos += length
    this.senderFault = length === IDENTIFIER_LENGTH ? undefined : 'invalid-sender'
    return true
  }

  /** Reads `p`; false if it is not a bin. */
  #payload(): boolean {
    if (this.pos >= this.end) return this.#truncated()
    const length = this.#binLength(this.bytes[this.pos++]!)
    if (length === -1) {
      this.payloadFault = true
      return false
    }
    if (length === -2 || this.pos + length > this.end) return this.#truncated()
    this.payloadAt = this.pos
    this.payloadLength = length
    this.pos += length
    this.payloadFault = false
    return true
  }

  /** Reads `m`; false if it is not a map or a value is not a string (the caller re-walks it). */
  #metadata(): boolean {
    if (this.pos >= this.end) return this.#truncated()
    const n = this.#mapLength(this.bytes[this.pos++]!)
    if (n === -1) {
      this.metadataFault = true
      return false
    }
    if (n === -2) return this.#truncated()
    const limits = this.#limits
    if (n > limits.maxEntries) {
      return this.#fail('metadata-limit', `${n} metadata entries > ${limits.maxEntries}`)
    }
    const metadata: Record<string, string> = {}
    let count = 0
    for (let i = 0; i < n; i++) {
      const kl = this.#key()
      if (kl < 0) return false
      if (kl > limits.maxKeyLength) {
        return this.#fail('metadata-limit', `metadata key of ${kl} bytes > ${limits.maxKeyLength}`)
      }
      const keyAt = this.pos - kl
      if (this.pos >= this.end) return this.#truncated()
      const vl = this.#strLength(this.bytes[this.pos++]!)
      if (vl === -1) {
        // a value that is not a string: the whole field is wrongly typed; check the rest's structure
        this.metadataFault = true
        this.pos--
        if (!this.skipValue(2)) return false
        for (i++; i < n; i++) if (this.#key() < 0 || !this.skipValue(2)) return false
        return true
      }
      if (vl === -2 || this.pos + vl > this.end) return this.#truncated()
      if (vl > limits.maxValueLength) {
        return this.#fail('metadata-limit', `metadata value of ${vl} bytes > ${limits.maxValueLength}`)
      }
      const key = this.#string(keyAt, kl)
      const value = this.#string(this.pos, vl)
      this.pos += vl
      if (count > 0 && Object.hasOwn(metadata, key)) this.duplicate = true
      metadata[key] = value
      count++
    }
    this.metadataFault = false
    this.metadata = metadata
    return true
  }

  /** Reads `r`; false if it is not a string (the caller re-walks it). */
  #rpc(): boolean {
    if (this.pos >= this.end) return this.#truncated()
    const length = this.#strLength(this.bytes[this.pos++]!)
    if (length === -1) {
      this.rpcFault = true
      return false
    }
    if (length === -2 || this.pos + length > this.end) return this.#truncated()
    this.rpc = readRpcHeader(this.bytes, this.pos, length)
    this.rpcFault = this.rpc === undefined
    this.pos += length
    return true
  }

  /** Reads `t`; false if it is not a number (the caller re-walks it). */
  #timestamp(): boolean {
    if (this.pos >= this.end) return this.#truncated()
    const b = this.bytes
    const t = b[this.pos++]!
    let v: number
    if (t <= 0x7f) v = t
    else if (t >= 0xe0) v = t - 0x100
    else {
      switch (t) {
        case 0xcc:
        case 0xcd:
        case 0xce: {
          const u = this.#uint(t === 0xcc ? 1 : t === 0xcd ? 2 : 4)
          if (u < 0) return this.#truncated()
          v = u
          break
        }
        case 0xd0:
        case 0xd1:
        case 0xd2: {
          const n = t === 0xd0 ? 1 : t === 0xd1 ? 2 : 4
          const u = this.#uint(n)
          if (u < 0) return this.#truncated()
          v = n === 4 ? u | 0 : (u << (32 - n * 8)) >> (32 - n * 8)
          break
        }
        case 0xcf:
        case 0xd3: {
          const hi = this.#uint(4)
          const lo = hi < 0 ? -1 : this.#uint(4)
          if (lo < 0) return this.#truncated()
          v = (t === 0xd3 ? hi | 0 : hi) * 4294967296 + lo
          break
        }
        case 0xca:
        case 0xcb: {
          const n = t === 0xca ? 4 : 8
          if (this.pos + n > this.end) return this.#truncated()
          const f = this.#f64
          for (let i = 0; i < n; i++) f.setUint8(i, b[this.pos + i]!)
          this.pos += n
          v = n === 4 ? f.getFloat32(0) : f.getFloat64(0)
          break
        }
        default:
          this.timestampFault = true
          return false
      }
    }
    if (!Number.isFinite(v)) {
      this.timestampFault = true
      return true
    }
    this.timestampFault = false
    this.timestamp = v
    return true
  }
}
