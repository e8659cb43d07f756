import type { Channel } from './channel.js'
import type { MetadataLimitError } from './errors.js'
import { IDENTIFIER_LENGTH, Identifier } from './identifier.js'
import type { Codec, DecodeFailureReason, DecodeHints, DecodeResult, MessageEnvelope } from './message.js'
import { ALL_FIELDS, DEFAULT_METADATA_LIMITS, FIELD_NAMES } from './codec/format.js'
import { numberOption } from './internal/options.js'
import { EnvelopeReader } from './codec/reader.js'
import { EnvelopeWriter } from './codec/writer.js'

/** Options of {@link createMsgpackCodec}. */
export interface MsgpackCodecOptions {
  /**
   * The largest encoded envelope `decode` accepts, in bytes; larger input is rejected as `'oversize'` before
   * it is parsed. The network also refuses to send envelopes larger than this.
   * @default 16 MiB + 4 KiB (16781312)
   */
  maxEnvelopeSize?: number
  /**
   * The most metadata entries one envelope may carry; `encode` throws {@link MetadataLimitError} beyond it and
   * `decode` rejects as `'metadata-limit'` on reading the map's header, before building any entry.
   * @default 64
   */
  maxMetadataEntries?: number
  /**
   * The longest metadata key, in UTF-8 bytes (same checks as {@link MsgpackCodecOptions.maxMetadataEntries}).
   * @default 256
   */
  maxMetadataKeyLength?: number
  /**
   * The longest metadata value, in UTF-8 bytes (same checks as {@link MsgpackCodecOptions.maxMetadataEntries}).
   * @default 4096
   */
  maxMetadataValueLength?: number
}

/** Default of {@link MsgpackCodecOptions.maxEnvelopeSize}: a 16 MiB payload plus room for the envelope. */
export const DEFAULT_MAX_ENVELOPE_SIZE = 16 * 1024 * 1024 + 4 * 1024

function fail(reason: DecodeFailureReason, detail: string): DecodeResult {
  return { ok: false, reason, detail }
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
 * (`'invalid-channel'`); a sender that is not 32 bytes (`'invalid-sender'`); metadata beyond the limits
 * (`'metadata-limit'`: more entries than `maxMetadataEntries`, checked on the map's header before any entry is
 * read, or a key or value longer than its limit, checked before the string is built). When an input has several
 * faults, a structural one (malformed, extension, non-string or forbidden key, metadata limit) wins, then
 * unknown, missing, and field faults in the order c, s, p, m, t, then duplicates. A metadata limit stops the
 * walk where it is found, so a structural fault after it is not reported.
 *
 * `encode` throws {@link MetadataLimitError} for metadata beyond the same limits, so a sender never produces
 * an envelope its peers reject.
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
 * @throws {InvalidOptionsError} when an option is not a positive integer.
 */
export function createMsgpackCodec(options: MsgpackCodecOptions = {}): Codec {
  const positive = { min: 1, integer: true }
  const maxEnvelopeSize = numberOption(
    'maxEnvelopeSize',
    options.maxEnvelopeSize,
    DEFAULT_MAX_ENVELOPE_SIZE,
    positive,
  )
  const limits = {
    maxEntries: numberOption(
      'maxMetadataEntries',
      options.maxMetadataEntries,
      DEFAULT_METADATA_LIMITS.maxEntries,
      positive,
    ),
    maxKeyLength: numberOption(
      'maxMetadataKeyLength',
      options.maxMetadataKeyLength,
      DEFAULT_METADATA_LIMITS.maxKeyLength,
      positive,
    ),
    maxValueLength: numberOption(
      'maxMetadataValueLength',
      options.maxMetadataValueLength,
      DEFAULT_METADATA_LIMITS.maxValueLength,
      positive,
    ),
  }
  const reader = new EnvelopeReader(limits)
  const writer = new EnvelopeWriter(limits)

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
