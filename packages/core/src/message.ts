import type { Channel } from './channel.js'
import type { Identifier } from './identifier.js'

/** What a processor sends and receives: opaque bytes plus string metadata. */
export interface Message {
  /** The application bytes (may be empty). */
  payload: Uint8Array
  /** String key/value pairs that travel with the payload (may be empty). */
  metadata: Record<string, string>
}

/** What travels on the wire for every message: serialized by a {@link Codec}. */
export interface MessageEnvelope {
  /** The channel the message was sent on; must equal the transport channel it arrived on. */
  channel: Channel
  /** The sender's identifier; must equal the connection's authenticated `remoteId`. */
  sender: Identifier
  payload: Uint8Array
  metadata: Record<string, string>
  /** Sender's clock, milliseconds since the epoch, when the envelope was made. */
  timestamp: number
  /** Present on the envelopes of `Conduit.request`: the request, its reply, or the remote's failure. */
  rpc?: RpcHeader
}

/** What makes an envelope part of a request/response exchange. */
export interface RpcHeader {
  /** `'request'`, its `'reply'`, or `'error'`: the remote could not answer (its payload names the error). */
  kind: 'request' | 'reply' | 'error'
  /** The request's nonce: 32 lower-case hex digits, chosen at random by the requester. */
  nonce: string
}

/** Why untrusted bytes did not decode into an envelope. */
export type DecodeFailureReason =
  | 'malformed'
  | 'oversize'
  | 'wrong-type'
  | 'missing-field'
  | 'unknown-field'
  | 'forbidden-key'
  | 'invalid-channel'
  | 'invalid-sender'
  | 'metadata-limit'

/** The result of decoding untrusted bytes: never an exception. */
export type DecodeResult =
  | { ok: true; envelope: MessageEnvelope }
  | { ok: false; reason: DecodeFailureReason; detail?: string }

/**
 * What the caller of {@link Codec.decode} already knows about the bytes: the transport channel they arrived on
 * and the connection's authenticated remote id. Hints never change whether bytes decode, nor what they decode
 * to; they only let a codec skip work: when the decoded channel (sender) equals the hint, the codec may return
 * the hint's own string (`Identifier` instance) instead of a new one. A codec must not keep the object.
 */
export interface DecodeHints {
  /** The transport channel the bytes arrived on. */
  readonly channel?: Channel
  /** The remote peer the bytes came from. */
  readonly sender?: Identifier
}

/**
 * Serializes envelopes. `decode` takes untrusted bytes and must never throw.
 *
 * Ownership: `encode` returns an array the caller owns; it may be a view into a larger `ArrayBuffer` that holds
 * other envelopes too, so use it through its `byteOffset`/`byteLength` (as `Uint8Array` methods do), never
 * its `buffer` alone. `decode` may return byte fields (the payload) as
 * views of its input rather than copies, so the decoded payload shares memory with the bytes passed in: once
 * bytes are handed to `decode`, nobody may modify or reuse their buffer (a `Connection` gives up the
 * bytes it emits for that reason), and a processor may keep the payload it receives.
 */
export interface Codec {
  /**
   * The largest encoded envelope this codec decodes, in bytes, if it has a limit. The network refuses to send
   * (with `MessageTooLargeError`) an envelope larger than this or than the transport's `maxMessageSize`.
   */
  readonly maxEnvelopeSize?: number
  /**
   * Serializes an envelope into an array nobody else writes to (see the ownership note).
   * @throws {TypeError} when the envelope cannot be serialized (e.g. a metadata value that is not a string).
   * @throws {MetadataLimitError} when the metadata exceeds the codec's limits (the network passes it on to the
   *   sender as is).
   */
  encode(envelope: MessageEnvelope): Uint8Array
  /**
   * Parses untrusted bytes; every failure is a typed result, never a thrown error. The decoded payload may be
   * a view of `bytes` (see the ownership note above).
   */
  decode(bytes: Uint8Array, hints?: DecodeHints): DecodeResult
}
