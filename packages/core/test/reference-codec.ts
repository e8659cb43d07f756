// The msgpackr-based envelope codec as it was before the single-pass decoder (core 5d83f96), kept for tests
// only: an oracle that the single-pass codec must agree with on every input (verdict, reason, fields).
import { Packr } from 'msgpackr'
import { isChannel } from '../src/channel.js'
import { IDENTIFIER_LENGTH, Identifier } from '../src/identifier.js'
import type { Codec, DecodeFailureReason, DecodeResult, MessageEnvelope, RpcHeader } from '../src/message.js'
import { readRpcHeader } from '../src/rpc-header.js'

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
const DEFAULT_MAX_ENVELOPE_SIZE = 16 * 1024 * 1024 + 4 * 1024

/** Keys rejected anywhere in a decoded map (prototype pollution). */
const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'].map((k) => new TextEncoder().encode(k))

function isForbiddenKey(bytes: Uint8Array, at: number, length: number): boolean {
  if (length !== 9 && length !== 11) return false
  for (const key of FORBIDDEN_KEYS) {
    if (key.length !== length) continue
    let same = true
    for (let i = 0; i < length && same; i++) same = bytes[at + i] === key[i]
    if (same) return true
  }
  return false
}

/** The wire keys of an envelope map, in encoding order. */
const ENVELOPE_KEYS = ['c', 's', 'p', 'm', 't'] as const

/** Nesting deeper than this is malformed: a valid envelope is at most two levels deep. */
const MAX_DEPTH = 4

class Reject {
  constructor(
    readonly reason: DecodeFailureReason,
    readonly detail: string,
  ) {}
}

/**
 * Walks one MessagePack value without building it: checks that the bytes are exactly one well-formed value,
 * contain no extension types (msgpackr maps those to records, dates, errors, typed arrays, references...),
 * have only string map keys and none of `__proto__`, `constructor`, `prototype` as a key (msgpackr would
 * silently rename `__proto__`). Returns the declared entry counts of the maps, in order of appearance, so that
 * duplicate keys (which collapse when decoded) can be detected afterwards.
 * Linear in the input: every declared element consumes at least one byte, so bogus lengths fail as truncated.
 */
function scan(bytes: Uint8Array): Reject | number[] {
  const mapSizes: number[] = []
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const end = bytes.length
  let pos = 0

  const need = (n: number): void => {
    if (pos + n > end) throw new Reject('malformed', 'truncated input')
  }
  const len8 = (): number => {
    need(1)
    return bytes[pos++]!
  }
  const len16 = (): number => {
    need(2)
    const v = view.getUint16(pos)
    pos += 2
    return v
  }
  const len32 = (): number => {
    need(4)
    const v = view.getUint32(pos)
    pos += 4
    return v
  }
  const skip = (n: number): void => {
    need(n)
    pos += n
  }
  const strLength = (token: number): number | undefined => {
    if (token >= 0xa0 && token <= 0xbf) return token - 0xa0
    if (token === 0xd9) return len8()
    if (token === 0xda) return len16()
    if (token === 0xdb) return len32()
    return undefined
  }

  const value = (depth: number): void => {
    if (depth > MAX_DEPTH) throw new Reject('malformed', 'nested too deeply')
    need(1)
    const t = bytes[pos++]!
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return
    if (t >= 0x80 && t <= 0x8f) {
      map(t - 0x80, depth)
      return
    }
    if (t >= 0x90 && t <= 0x9f) {
      array(t - 0x90, depth)
      return
    }
    const sl = strLength(t)
    if (sl !== undefined) {
      skip(sl)
      return
    }
    switch (t) {
      case 0xc4:
        skip(len8())
        return
      case 0xc5:
        skip(len16())
        return
      case 0xc6:
        skip(len32())
        return
      case 0xca:
        skip(4)
        return
      case 0xcb:
        skip(8)
        return
      case 0xcc:
      case 0xd0:
        skip(1)
        return
      case 0xcd:
      case 0xd1:
        skip(2)
        return
      case 0xce:
      case 0xd2:
        skip(4)
        return
      case 0xcf:
      case 0xd3:
        skip(8)
        return
      case 0xdc:
        array(len16(), depth)
        return
      case 0xdd:
        array(len32(), depth)
        return
      case 0xde:
        map(len16(), depth)
        return
      case 0xdf:
        map(len32(), depth)
        return
      case 0xc7:
      case 0xc8:
      case 0xc9:
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        throw new Reject('wrong-type', `extension type 0x${t.toString(16)} not allowed`)
      default:
        throw new Reject('malformed', `invalid type byte 0x${t.toString(16)}`)
    }
  }
  const array = (n: number, depth: number): void => {
    for (let i = 0; i < n; i++) value(depth + 1)
  }
  const map = (n: number, depth: number): void => {
    mapSizes.push(n)
    for (let i = 0; i < n; i++) {
      need(1)
      const kl = strLength(bytes[pos++]!)
      if (kl === undefined) throw new Reject('wrong-type', 'map key is not a string')
      need(kl)
      if (isForbiddenKey(bytes, pos, kl)) throw new Reject('forbidden-key', 'forbidden map key')
      pos += kl
      value(depth + 1)
    }
  }

  try {
    value(0)
    if (pos !== end) return new Reject('malformed', `${end - pos} trailing bytes`)
    return mapSizes
  } catch (err) {
    if (err instanceof Reject) return err
    return new Reject('malformed', String(err))
  }
}

/** A plain `Uint8Array` view of msgpackr's output (a `Buffer` in Node), so every platform sees the same type. */
function plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function fail(reason: DecodeFailureReason, detail: string): DecodeResult {
  return { ok: false, reason, detail }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false
  const proto: unknown = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * The MessagePack envelope codec (msgpackr, no records, no shared structures, no extensions).
 *
 * Wire format: one map with exactly the keys `c` (channel, string), `s` (sender, 32-byte bin),
 * `p` (payload, bin), `m` (metadata, map of string to string) and `t` (timestamp, number: ms since the epoch).
 *
 * `decode` never throws. It rejects: input larger than `maxEnvelopeSize` (`'oversize'`); truncated,
 * trailing or invalid bytes, duplicate map keys (`'malformed'`); extension types, non-string keys and wrongly typed fields
 * (`'wrong-type'`); a missing or extra key (`'missing-field'` / `'unknown-field'`); `__proto__`,
 * `constructor` or `prototype` as a key at any depth (`'forbidden-key'`); an invalid channel name
 * (`'invalid-channel'`); a sender that is not 32 bytes (`'invalid-sender'`). Decoded byte fields are plain
 * `Uint8Array` views of the input (no copy).
 *
 * @example
 * ```ts
 * const codec = createMsgpackCodec()
 * const bytes = codec.encode({ channel: Channel.Test, sender: id, payload, metadata: {}, timestamp: Date.now() })
 * const result = codec.decode(bytes) // { ok: true, envelope }
 * ```
 */
export function createReferenceCodec(options: MsgpackCodecOptions = {}): Codec {
  const maxEnvelopeSize = options.maxEnvelopeSize ?? DEFAULT_MAX_ENVELOPE_SIZE
  if (!Number.isInteger(maxEnvelopeSize) || maxEnvelopeSize <= 0) {
    throw new RangeError(`maxEnvelopeSize must be a positive integer, got ${maxEnvelopeSize}`)
  }
  const packr = new Packr({
    useRecords: false,
    mapsAsObjects: true,
    variableMapSize: true,
    moreTypes: false,
    structuredClone: false,
    bundleStrings: false,
    int64AsType: 'number',
  })

  return {
    maxEnvelopeSize,

    encode(envelope: MessageEnvelope): Uint8Array {
      return plain(
        packr.pack({
          c: envelope.channel,
          s: envelope.sender.bytes,
          p: envelope.payload,
          m: envelope.metadata,
          t: envelope.timestamp,
          ...(envelope.rpc === undefined ? {} : { r: rpcString(envelope.rpc) }),
        }),
      )
    },

    decode(bytes: Uint8Array): DecodeResult {
      if (!(bytes instanceof Uint8Array)) return fail('wrong-type', 'input is not a Uint8Array')
      if (bytes.length > maxEnvelopeSize)
        return fail('oversize', `${bytes.length} > ${maxEnvelopeSize} bytes`)
      const scanned = scan(bytes)
      if (scanned instanceof Reject) return fail(scanned.reason, scanned.detail)
      let raw: unknown
      try {
        raw = packr.unpack(bytes)
      } catch (err) {
        return fail('malformed', err instanceof Error ? err.message : String(err))
      }
      if (!isPlainObject(raw)) return fail('wrong-type', 'envelope is not a map')
      for (const key of Object.keys(raw)) {
        if (!(ENVELOPE_KEYS as readonly string[]).includes(key) && key !== 'r')
          return fail('unknown-field', `unknown key ${key.slice(0, 32)}`)
      }
      for (const key of ENVELOPE_KEYS) {
        if (!Object.hasOwn(raw, key)) return fail('missing-field', `missing key ${key}`)
      }
      const { c, s, p, m, t } = raw
      if (typeof c !== 'string') return fail('wrong-type', 'channel is not a string')
      if (!isChannel(c)) return fail('invalid-channel', 'invalid channel name')
      if (!(s instanceof Uint8Array)) return fail('wrong-type', 'sender is not binary')
      if (s.length !== IDENTIFIER_LENGTH) return fail('invalid-sender', `sender is ${s.length} bytes`)
      if (!(p instanceof Uint8Array)) return fail('wrong-type', 'payload is not binary')
      if (!isPlainObject(m)) return fail('wrong-type', 'metadata is not a map')
      const metadata: Record<string, string> = {}
      for (const [k, v] of Object.entries(m)) {
        if (typeof v !== 'string') return fail('wrong-type', 'metadata value is not a string')
        metadata[k] = v
      }
      if (typeof t !== 'number' || !Number.isFinite(t))
        return fail('wrong-type', 'timestamp is not a finite number')
      // the optional request header (added with Conduit.request): a 33-character string, checked like the codec
      const r = raw.r
      let rpc: RpcHeader | undefined
      if (Object.hasOwn(raw, 'r')) {
        const bytes = typeof r === 'string' ? new TextEncoder().encode(r) : undefined
        rpc = bytes === undefined ? undefined : readRpcHeader(bytes, 0, bytes.length)
        if (rpc === undefined) return fail('wrong-type', 'request header is malformed')
      }
      // Duplicate keys collapse when decoded (and decoders disagree on which one wins): compare with the declared
      // entry counts. A valid envelope has exactly two maps, itself and `m`.
      const [declaredTop, declaredMetadata] = scanned
      if (
        scanned.length !== 2 ||
        declaredTop !== Object.keys(raw).length ||
        declaredMetadata !== Object.keys(metadata).length
      ) {
        return fail('malformed', 'duplicate map key')
      }
      return {
        ok: true,
        envelope: {
          channel: c,
          sender: Identifier.fromBytes(s),
          payload: plain(p),
          metadata,
          timestamp: t,
          ...(rpc === undefined ? {} : { rpc }),
        },
      }
    },
  }
}

function rpcString(rpc: RpcHeader): string {
  return `${{ request: 'q', reply: 'a', error: 'e' }[rpc.kind]}${rpc.nonce}`
}
