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

/** The result of decoding untrusted bytes: never an exception. */
export type DecodeResult =
  | { ok: true; envelope: MessageEnvelope }
  | { ok: false; reason: DecodeFailureReason; detail?: string }

/** Serializes envelopes. `decode` takes untrusted bytes and must never throw. */
export interface Codec {
  /**
   * The largest encoded envelope this codec decodes, in bytes, if it has a limit. The network refuses to send
   * (with `MessageTooLargeError`) an envelope larger than this or than the transport's `maxMessageSize`.
   */
  readonly maxEnvelopeSize?: number
  /** Serializes an envelope. */
  encode(envelope: MessageEnvelope): Uint8Array
  /** Parses untrusted bytes; every failure is a typed result, never a thrown error. */
  decode(bytes: Uint8Array): DecodeResult
}
