/**
 * The encoding half of the envelope codec: envelopes written straight into exactly sized arrays.
 *
 * @module
 */
import { MetadataLimitError } from '../errors.js'
import type { Identifier } from '../identifier.js'
import type { MetadataLimits } from './format.js'
import { RPC_HEADER_LENGTH, writeRpcHeader } from '../rpc-header.js'
import type { MessageEnvelope } from '../message.js'

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
export class EnvelopeWriter {
  readonly #limits: MetadataLimits
  readonly #utf8 = new TextEncoder()
  readonly #f64 = new DataView(new ArrayBuffer(8))
  /** Per channel: the bytes from the map header up to the `p` key, for the sender they were made for. */
  readonly #prefixes = new Map<string, { sender: Identifier; bytes: Uint8Array }>()
  /** UTF-8 lengths of the metadata keys and values of the envelope being written (reused). */
  readonly #lengths: number[] = []
  #slab = new ArrayBuffer(0)
  #slabPos = 0

  constructor(limits: MetadataLimits) {
    this.#limits = limits
  }

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
    const limits = this.#limits
    if (keys.length > limits.maxEntries) {
      throw new MetadataLimitError(`${keys.length} metadata entries > ${limits.maxEntries}`)
    }
    const lengths = this.#lengths
    let size = prefix.length + binHeaderSize(payload.length) + payload.length + 4 // + the `m` and `t` keys
    size += keys.length < 16 ? 1 : keys.length < 0x10000 ? 3 : 5
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const value = metadata[key]
      if (typeof value !== 'string') throw new TypeError('metadata values must be strings')
      const kl = utf8Length(key)
      const vl = utf8Length(value)
      if (kl > limits.maxKeyLength) {
        throw new MetadataLimitError(`metadata key of ${kl} bytes > ${limits.maxKeyLength}`)
      }
      if (vl > limits.maxValueLength) {
        throw new MetadataLimitError(`metadata value of ${vl} bytes > ${limits.maxValueLength}`)
      }
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
