import type { Channel } from './channel.js'
import { IDENTIFIER_LENGTH, Identifier } from './identifier.js'
import { FORBIDDEN_KEYS } from './internal/keys.js'
import { RPC_HEADER_LENGTH, readRpcHeader, writeRpcHeader } from './rpc-header.js'
import type {
  Codec,
  DecodeFailureReason,
  DecodeHints,
  DecodeResult,
  MessageEnvelope,
  RpcHeader,
} from './message.js'

/** Options of {@link createMsgpackCodec}. */
export interface MsgpackCodecOptions {
  /**
   * The largest encoded envelope `decode` accepts, in bytes; larger input is rejected as `'oversize'` before
   * it is parsed. The network also refuses to send envelopes larger than this.
   * @default 16 MiB + 4 KiB (16781312)
   */
  maxEnvelopeSize?: number
}

/** Default of {@link MsgpackCodecOptions.maxEnvelopeSize}: a 16 MiB payload plus room for the envelope. */
export const DEFAULT_MAX_ENVELOPE_SIZE = 16 * 1024 * 1024 + 4 * 1024

/** Keys rejected anywhere in a decoded map (prototype pollution). */
const FORBIDDEN_KEY_BYTES = [...FORBIDDEN_KEYS].map((k) => new TextEncoder().encode(k))

function isForbiddenKey(bytes: Uint8Array, at: number, length: number): boolean {
  if (length !== 9 && length !== 11) return false
  for (const key of FORBIDDEN_KEY_BYTES) {
    if (key.length !== length) continue
    let same = true
    for (let i = 0; i < length && same; i++) same = bytes[at + i] === key[i]
    if (same) return true
  }
  return false
}

const EMPTY = new Uint8Array(0)

/** Nesting deeper than this is malformed: a valid envelope is at most two levels deep. */
const MAX_DEPTH = 4

/** 1 for the bytes a channel name may contain (`[a-z0-9._-]`), else 0. */
const CHANNEL_BYTES = new Uint8Array(256)
for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789._-') CHANNEL_BYTES[c.charCodeAt(0)] = 1
const MAX_CHANNEL_LENGTH = 64

// The envelope's fields, as bits of a mask, in the order the reference decoder checked them.
const C = 1
const S = 2
const P = 4
const M = 8
const T = 16
const ALL_FIELDS = C | S | P | M | T
/** The optional request/response header (`r`); not part of {@link ALL_FIELDS}. */
const R = 32
const FIELD_NAMES: ReadonlyArray<[number, string]> = [
  [C, 'c'],
  [S, 's'],
  [P, 'p'],
  [M, 'm'],
  [T, 't'],
]

/** The field bit of a one-byte key (`c`, `s`, `p`, `m`, `t`), 0 for any other byte. */
function fieldOf(byte: number): number {
  switch (byte) {
    case 0x63:
      return C
    case 0x73:
      return S
    case 0x70:
      return P
    case 0x6d:
      return M
    case 0x74:
      return T
    case 0x72:
      return R
    default:
      return 0
  }
}

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
class EnvelopeReader {
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
    const metadata: Record<string, string> = {}
    let count = 0
    for (let i = 0; i < n; i++) {
      const kl = this.#key()
      if (kl < 0) return false
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

function fail(reason: DecodeFailureReason, detail: string): DecodeResult {
  return { ok: false, reason, detail }
}

/** Envelopes up to this size are carved from a shared slab (see {@link EnvelopeWriter}). */
const SLAB_PIECE = 2048
/** Size of one slab. */
const SLAB_SIZE = 16384

/**
 * Writes envelopes straight into one exactly sized array, byte-identical to msgpackr's `pack` of the map.
 *
 * Small envelopes are views carved, without overlap, from a slab of {@link SLAB_SIZE} bytes that is replaced
 * when full (as Node's `Buffer` pool and msgpackr do): allocating a typed array larger than 64 bytes costs an
 * off-heap backing store (≈ 200 ns in V8, and GC work), ten times the price of a view. Each returned array
 * still belongs to the caller alone; only its `buffer` is shared with other envelopes, and a slab lives as
 * long as any envelope carved from it.
 */
class EnvelopeWriter {
  readonly #utf8 = new TextEncoder()
  readonly #f64 = new DataView(new ArrayBuffer(8))
  /** Per channel: the bytes from the map header up to the `p` key, for the sender they were made for. */
  readonly #prefixes = new Map<string, { sender: Identifier; bytes: Uint8Array }>()
  /** UTF-8 lengths of the metadata keys and values of the envelope being written (reused). */
  readonly #lengths: number[] = []
  #slab = new ArrayBuffer(0)
  #slabPos = 0

  /** An exactly sized, zeroed array of `size` bytes that nobody else writes to. */
  #allocate(size: number): Uint8Array {
    if (size > SLAB_PIECE) return new Uint8Array(size)
    // (a slab some transport detached by transferring it has byteLength 0, so it is replaced here too)
    if (this.#slabPos + size > this.#slab.byteLength) {
      this.#slab = new ArrayBuffer(SLAB_SIZE)
      this.#slabPos = 0
    }
    const out = new Uint8Array(this.#slab, this.#slabPos, size)
    // keep every piece 8-byte aligned
    this.#slabPos += (size + 7) & ~7
    return out
  }

  encode(envelope: MessageEnvelope): Uint8Array {
    const prefix = this.#prefix(envelope.channel, envelope.sender)
    const payload = envelope.payload
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array')
    const metadata = envelope.metadata
    const keys = Object.keys(metadata)
    const lengths = this.#lengths
    let size = prefix.length + binHeaderSize(payload.length) + payload.length + 4 // + the `m` and `t` keys
    size += keys.length < 16 ? 1 : keys.length < 0x10000 ? 3 : 5
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const value = metadata[key]
      if (typeof value !== 'string') throw new TypeError('metadata values must be strings')
      const kl = utf8Length(key)
      const vl = utf8Length(value)
      lengths[2 * i] = kl
      lengths[2 * i + 1] = vl
      size += strHeaderSize(kl) + kl + strHeaderSize(vl) + vl
    }
    const timestamp = envelope.timestamp
    size += numberSize(timestamp)
    const rpc = envelope.rpc
    if (rpc !== undefined) size += 2 + 2 + RPC_HEADER_LENGTH // key, str 8 header, the header

    const out = this.#allocate(size)
    out.set(prefix, 0)
    if (rpc !== undefined) out[0] = 0x86 // one more entry: `r` follows `t`
    let pos = prefix.length
    const pl = payload.length
    if (pl < 0x100) {
      out[pos++] = 0xc4
      out[pos++] = pl
    } else if (pl < 0x10000) {
      out[pos++] = 0xc5
      out[pos++] = pl >>> 8
      out[pos++] = pl & 0xff
    } else {
      out[pos++] = 0xc6
      pos = writeUint32(out, pos, pl)
    }
    if (pl <= 16) {
      for (let i = 0; i < pl; i++) out[pos + i] = payload[i]!
    } else {
      out.set(payload, pos)
    }
    pos += pl
    out[pos++] = 0xa1
    out[pos++] = 0x6d // `m`
    const n = keys.length
    if (n < 16) out[pos++] = 0x80 | n
    else if (n < 0x10000) {
      out[pos++] = 0xde
      out[pos++] = n >>> 8
      out[pos++] = n & 0xff
    } else {
      out[pos++] = 0xdf
      pos = writeUint32(out, pos, n)
    }
    for (let i = 0; i < n; i++) {
      const key = keys[i]!
      pos = this.#writeString(out, pos, key, lengths[2 * i]!)
      pos = this.#writeString(out, pos, metadata[key]!, lengths[2 * i + 1]!)
    }
    out[pos++] = 0xa1
    out[pos++] = 0x74 // `t`
    this.#writeNumber(out, pos, timestamp)
    if (rpc !== undefined) {
      pos += numberSize(timestamp)
      out[pos++] = 0xa1
      out[pos++] = 0x72 // `r`
      out[pos++] = 0xd9 // str 8: the header is longer than a fixstr
      out[pos++] = RPC_HEADER_LENGTH
      writeRpcHeader(out, pos, rpc)
    }
    return out
  }

  #prefix(channel: string, sender: Identifier): Uint8Array {
    const cached = this.#prefixes.get(channel)
    if (cached !== undefined && cached.sender === sender) return cached.bytes
    if (typeof channel !== 'string') throw new TypeError('channel must be a string')
    const sb = sender.bytes
    const cl = utf8Length(channel)
    const bytes = new Uint8Array(
      1 + 2 + strHeaderSize(cl) + cl + 2 + binHeaderSize(sb.length) + sb.length + 2,
    )
    let pos = 0
    bytes[pos++] = 0x85
    bytes[pos++] = 0xa1
    bytes[pos++] = 0x63 // `c`
    pos = this.#writeString(bytes, pos, channel, cl)
    bytes[pos++] = 0xa1
    bytes[pos++] = 0x73 // `s`
    bytes[pos++] = 0xc4 // an Identifier is 32 bytes: bin 8
    bytes[pos++] = sb.length
    bytes.set(sb, pos)
    pos += sb.length
    bytes[pos++] = 0xa1
    bytes[pos++] = 0x70 // `p`
    // channels are few (one per registration); bound the cache anyway
    if (this.#prefixes.size >= 64) this.#prefixes.clear()
    this.#prefixes.set(channel, { sender, bytes })
    return bytes
  }

  #writeString(out: Uint8Array, pos: number, s: string, length: number): number {
    if (length < 0x20) out[pos++] = 0xa0 | length
    else if (length < 0x100) {
      out[pos++] = 0xd9
      out[pos++] = length
    } else if (length < 0x10000) {
      out[pos++] = 0xda
      out[pos++] = length >>> 8
      out[pos++] = length & 0xff
    } else {
      out[pos++] = 0xdb
      pos = writeUint32(out, pos, length)
    }
    if (length === s.length) {
      // as many bytes as UTF-16 units: all ASCII
      for (let i = 0; i < length; i++) out[pos + i] = s.charCodeAt(i)
    } else {
      this.#utf8.encodeInto(s, out.subarray(pos, pos + length))
    }
    return pos + length
  }

  /** Writes a number as msgpackr does: the smallest integer form within 32 bits, else a float 64. */
  #writeNumber(out: Uint8Array, pos: number, v: number): void {
    if (v >>> 0 === v) {
      if (v < 0x80) out[pos] = v
      else if (v < 0x100) {
        out[pos] = 0xcc
        out[pos + 1] = v
      } else if (v < 0x10000) {
        out[pos] = 0xcd
        out[pos + 1] = v >>> 8
        out[pos + 2] = v & 0xff
      } else {
        out[pos] = 0xce
        writeUint32(out, pos + 1, v)
      }
    } else if (v >> 0 === v) {
      if (v >= -0x20) out[pos] = v & 0xff
      else if (v >= -0x80) {
        out[pos] = 0xd0
        out[pos + 1] = v & 0xff
      } else if (v >= -0x8000) {
        out[pos] = 0xd1
        out[pos + 1] = (v >> 8) & 0xff
        out[pos + 2] = v & 0xff
      } else {
        out[pos] = 0xd2
        writeUint32(out, pos + 1, v >>> 0)
      }
    } else {
      out[pos] = 0xcb
      const f = this.#f64
      f.setFloat64(0, v)
      for (let i = 0; i < 8; i++) out[pos + 1 + i] = f.getUint8(i)
    }
  }
}

function writeUint32(out: Uint8Array, pos: number, v: number): number {
  out[pos] = v >>> 24
  out[pos + 1] = (v >>> 16) & 0xff
  out[pos + 2] = (v >>> 8) & 0xff
  out[pos + 3] = v & 0xff
  return pos + 4
}

function strHeaderSize(length: number): number {
  return length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

function binHeaderSize(length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

/** Bytes {@link EnvelopeWriter} uses for a number, header included. */
function numberSize(v: number): number {
  if (v >>> 0 === v) return v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : 5
  if (v >> 0 === v) return v >= -0x20 ? 1 : v >= -0x80 ? 2 : v >= -0x8000 ? 3 : 5
  return 9
}

/** The UTF-8 length of `s` as `TextEncoder` writes it (a lone surrogate becomes U+FFFD, 3 bytes). */
function utf8Length(s: string): number {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) n += 1
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2 // a pair: 2 units, 4 bytes
        i++
      } else n += 2
    } else n += 2
  }
  return n
}

/**
 * The MessagePack envelope codec.
 *
 * Wire format: one map with exactly the keys `c` (channel, string), `s` (sender, 32-byte bin),
 * `p` (payload, bin), `m` (metadata, map of string to string) and `t` (timestamp, number: ms since the epoch),
 * and for the envelopes of `Conduit.request` an optional `r` (the request header: 33 ASCII characters, `q`, `a`
 * or `e` for request, reply or error, then the nonce as 32 lower-case hex digits; anything else is
 * `'wrong-type'`).
 * `encode` writes the map in that key order with the smallest headers, byte for byte what msgpackr's `pack`
 * writes for it; `decode` accepts any valid MessagePack encoding of such a map (any key order, any header
 * widths), whoever wrote it.
 *
 * `decode` never throws. It walks the bytes once, checking the structure and extracting the fields as it goes,
 * and rejects: input larger than `maxEnvelopeSize` (`'oversize'`, before parsing); truncated, trailing or
 * invalid bytes, nesting deeper than 4, duplicate map keys (`'malformed'`); extension types, non-string keys
 * and wrongly typed fields, including a NaN or infinite timestamp and a metadata value that is not a string
 * (`'wrong-type'`); a missing or extra key (`'missing-field'` / `'unknown-field'`); `__proto__`,
 * `constructor` or `prototype` as a key at any depth (`'forbidden-key'`); an invalid channel name
 * (`'invalid-channel'`); a sender that is not 32 bytes (`'invalid-sender'`). When an input has several faults,
 * a structural one (malformed, extension, non-string or forbidden key) wins, then unknown, missing, and
 * field faults in the order c, s, p, m, t, then duplicates.
 *
 * The decoded payload is a plain `Uint8Array` view of the input (no copy; see the ownership note on
 * {@link Codec}); the sender is a copy, or `hints.sender` itself when equal; the channel is `hints.channel`
 * itself when equal.
 *
 * @example
 * ```ts
 * const codec = createMsgpackCodec()
 * const bytes = codec.encode({ channel: Channel.Test, sender: id, payload, metadata: {}, timestamp: Date.now() })
 * const result = codec.decode(bytes) // { ok: true, envelope }
 * ```
 * @throws {RangeError} when `maxEnvelopeSize` is not a positive integer.
 */
export function createMsgpackCodec(options: MsgpackCodecOptions = {}): Codec {
  const maxEnvelopeSize = options.maxEnvelopeSize ?? DEFAULT_MAX_ENVELOPE_SIZE
  if (!Number.isInteger(maxEnvelopeSize) || maxEnvelopeSize <= 0) {
    throw new RangeError(`maxEnvelopeSize must be a positive integer, got ${maxEnvelopeSize}`)
  }
  const reader = new EnvelopeReader()
  const writer = new EnvelopeWriter()

  const decode = (bytes: Uint8Array, hints: DecodeHints | undefined): DecodeResult => {
    const r = reader
    r.reset(bytes)
    if (!r.envelope(hints)) return fail(r.structure!, r.detail)
    if (r.pos !== r.end) return fail('malformed', `${r.end - r.pos} trailing bytes`)
    if (r.seen === -1) return fail('wrong-type', 'envelope is not a map')
    if (r.hasUnknown) return fail('unknown-field', `unknown key ${r.unknownKey}`)
    if ((r.seen & ALL_FIELDS) !== ALL_FIELDS) {
      for (const [bit, name] of FIELD_NAMES) {
        if ((r.seen & bit) === 0) return fail('missing-field', `missing key ${name}`)
      }
    }
    if (r.channelFault !== undefined) {
      return fail(
        r.channelFault,
        r.channelFault === 'wrong-type' ? 'channel is not a string' : 'invalid channel name',
      )
    }
    if (r.senderFault !== undefined) {
      return fail(r.senderFault, r.senderFault === 'wrong-type' ? 'sender is not binary' : 'sender length')
    }
    if (r.payloadFault) return fail('wrong-type', 'payload is not binary')
    if (r.metadataFault) return fail('wrong-type', 'metadata is not a map of strings')
    if (r.timestampFault) return fail('wrong-type', 'timestamp is not a finite number')
    if (r.rpcFault) return fail('wrong-type', 'request header is malformed')
    if (r.duplicate) return fail('malformed', 'duplicate map key')

    const hint = hints?.sender
    const at = r.senderAt
    let sender: Identifier
    if (hint !== undefined && sameBytes(bytes, at, hint.bytes)) sender = hint
    else sender = Identifier.fromBytes(bytes.subarray(at, at + IDENTIFIER_LENGTH))
    const envelope: MessageEnvelope = {
      channel: r.channel as Channel,
      sender,
      payload: new Uint8Array(bytes.buffer, bytes.byteOffset + r.payloadAt, r.payloadLength),
      metadata: r.metadata,
      timestamp: r.timestamp,
    }
    if (r.rpc !== undefined) envelope.rpc = r.rpc
    return { ok: true, envelope }
  }

  return {
    maxEnvelopeSize,

    encode(envelope: MessageEnvelope): Uint8Array {
      return writer.encode(envelope)
    },

    decode(bytes: Uint8Array, hints?: DecodeHints): DecodeResult {
      if (!(bytes instanceof Uint8Array)) return fail('wrong-type', 'input is not a Uint8Array')
      if (bytes.length > maxEnvelopeSize)
        return fail('oversize', `${bytes.length} > ${maxEnvelopeSize} bytes`)
      try {
        return decode(bytes, hints)
      } catch (err) {
        // not expected: every path above is checked; but untrusted input must never throw
        return fail('malformed', err instanceof Error ? err.message : String(err))
      } finally {
        reader.release()
      }
    },
  }
}

function sameBytes(bytes: Uint8Array, at: number, other: Uint8Array): boolean {
  for (let i = 0; i < IDENTIFIER_LENGTH; i++) if (bytes[at + i] !== other[i]) return false
  return true
}
