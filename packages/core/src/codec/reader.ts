/**
 * The decoding half of the envelope codec: one pass over untrusted bytes that checks the structure and extracts the
 * fields as it goes (see `createMsgpackCodec` for the verdicts). This module reads the envelope's fields; the
 * structure rules are `structure.ts`'s and the bounded reads `cursor.ts`'s.
 *
 * @module
 */
import type { Channel } from '../channel.js'
import { IDENTIFIER_LENGTH } from '../identifier.js'
import type { DecodeFailureReason, DecodeHints, RpcHeader } from '../message.js'
import { readRpcHeader } from '../rpc-header.js'
import {
  C,
  CHANNEL_BYTES,
  EMPTY,
  fieldOf,
  M,
  MAX_CHANNEL_LENGTH,
  type MetadataLimits,
  P,
  R,
  S,
} from './format.js'
import { StructureWalker } from './structure.js'

/** Placeholder between decodes (never returned: a decode that succeeds made its own metadata object). */
const NO_METADATA: Record<string, string> = Object.freeze({})

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
export class EnvelopeReader extends StructureWalker {
  readonly #limits: MetadataLimits

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
    super()
    this.#limits = limits
  }

  /** Starts a decode of `bytes`: nothing seen, no fault. */
  reset(bytes: Uint8Array): void {
    this.start(bytes)
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

  /** Reads the top-level map; false after a structure error. */
  envelope(hints: DecodeHints | undefined): boolean {
    if (this.pos >= this.end) return this.truncated()
    const t = this.bytes[this.pos]!
    if (!((t >= 0x80 && t <= 0x8f) || t === 0xde || t === 0xdf)) {
      // not a map: a structure error still wins, otherwise it is the wrong type
      if (!this.skipValue(0)) return false
      this.seen = -1
      return true
    }
    this.pos++
    const n = this.mapLength(t)
    if (n < 0) return this.truncated()
    for (let i = 0; i < n; i++) {
      const kl = this.key()
      if (kl < 0) return false
      const field = kl === 1 ? fieldOf(this.bytes[this.pos - 1]!) : 0
      if (field === 0) {
        if (!this.hasUnknown) {
          this.hasUnknown = true
          this.unknownKey = this.string(this.pos - kl, Math.min(kl, 32))
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
    if (this.pos >= this.end) return this.truncated()
    const length = this.strLength(this.bytes[this.pos++]!)
    if (length === -1) {
      this.channelFault = 'wrong-type'
      return false
    }
    if (length === -2 || this.pos + length > this.end) return this.truncated()
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
    this.channel = same ? hint! : this.string(at, length)
    return true
  }

  /** Reads `s`; false if it is not a bin. Keeps only its offset: the Identifier is built (or reused) later. */
  #sender(): boolean {
    if (this.pos >= this.end) return this.truncated()
    const length = this.binLength(this.bytes[this.pos++]!)
    if (length === -1) {
      this.senderFault = 'wrong-type'
      return false
    }
    if (length === -2 || this.pos + length > this.end) return this.truncated()
    this.senderAt = this.pos
    this.pos += length
    this.senderFault = length === IDENTIFIER_LENGTH ? undefined : 'invalid-sender'
    return true
  }

  /** Reads `p`; false if it is not a bin. */
  #payload(): boolean {
    if (this.pos >= this.end) return this.truncated()
    const length = this.binLength(this.bytes[this.pos++]!)
    if (length === -1) {
      this.payloadFault = true
      return false
    }
    if (length === -2 || this.pos + length > this.end) return this.truncated()
    this.payloadAt = this.pos
    this.payloadLength = length
    this.pos += length
    this.payloadFault = false
    return true
  }

  /** Reads `m`; false if it is not a map or a value is not a string (the caller re-walks it). */
  #metadata(): boolean {
    if (this.pos >= this.end) return this.truncated()
    const n = this.mapLength(this.bytes[this.pos++]!)
    if (n === -1) {
      this.metadataFault = true
      return false
    }
    if (n === -2) return this.truncated()
    const limits = this.#limits
    if (n > limits.maxEntries) {
      return this.fail('metadata-limit', `${n} metadata entries > ${limits.maxEntries}`)
    }
    const metadata: Record<string, string> = {}
    let count = 0
    for (let i = 0; i < n; i++) {
      const kl = this.key()
      if (kl < 0) return false
      if (kl > limits.maxKeyLength) {
        return this.fail('metadata-limit', `metadata key of ${kl} bytes > ${limits.maxKeyLength}`)
      }
      const keyAt = this.pos - kl
      if (this.pos >= this.end) return this.truncated()
      const vl = this.strLength(this.bytes[this.pos++]!)
      if (vl === -1) {
        // a value that is not a string: the whole field is wrongly typed; check the rest's structure
        this.metadataFault = true
        this.pos--
        if (!this.skipValue(2)) return false
        for (i++; i < n; i++) if (this.key() < 0 || !this.skipValue(2)) return false
        return true
      }
      if (vl === -2 || this.pos + vl > this.end) return this.truncated()
      if (vl > limits.maxValueLength) {
        return this.fail('metadata-limit', `metadata value of ${vl} bytes > ${limits.maxValueLength}`)
      }
      const key = this.string(keyAt, kl)
      const value = this.string(this.pos, vl)
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
    if (this.pos >= this.end) return this.truncated()
    const length = this.strLength(this.bytes[this.pos++]!)
    if (length === -1) {
      this.rpcFault = true
      return false
    }
    if (length === -2 || this.pos + length > this.end) return this.truncated()
    this.rpc = readRpcHeader(this.bytes, this.pos, length)
    this.rpcFault = this.rpc === undefined
    this.pos += length
    return true
  }

  /** Reads `t`; false if it is not a number (the caller re-walks it). */
  #timestamp(): boolean {
    const v = this.number()
    if (v === undefined) {
      if (this.structure === undefined) this.timestampFault = true
      return false
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
