/**
 * The multiplexer's wire format: one frame per host-connection message, all on the host channel
 * {@link MUX_CHANNEL} (one ordered stream per host pair, so opens, data and closes of a virtual link can never
 * overtake each other).
 *
 * ```
 * byte 0        kind: 1 open · 2 accept · 3 refuse · 4 data · 5 close · 6 fin
 * bytes 1..32   source node id (the sending host's node)
 * bytes 33..64  destination node id (a node of the receiving host)
 * data only:    byte 65 channel length L (1..64) · L bytes channel name (ASCII) · payload
 * ```
 *
 * @module
 */
import { type Channel, channel as makeChannel, isChannel } from '../channel.js'
import { IDENTIFIER_LENGTH, Identifier } from '../identifier.js'

/** The host-level channel every multiplexer frame travels on. */
export const MUX_CHANNEL: Channel = makeChannel('skipmesh.mux')

/** Kinds of frame. */
export const FrameKind = { Open: 1, Accept: 2, Refuse: 3, Data: 4, Close: 5, Fin: 6 } as const
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind]

const IDS_END = 1 + 2 * IDENTIFIER_LENGTH
const MAX_CHANNEL_LENGTH = 64

/** The largest header a data frame carries: what a node-level `maxMessageSize` gives up to the host's. */
export const MAX_FRAME_OVERHEAD = IDS_END + 1 + MAX_CHANNEL_LENGTH

/** A decoded frame. `payload` is a view into the received bytes (which belong to the receiver). */
export type Frame =
  | { kind: Exclude<FrameKind, 4>; source: Identifier; destination: Identifier }
  | { kind: 4; source: Identifier; destination: Identifier; channel: Channel; payload: Uint8Array }

function header(kind: FrameKind, source: Identifier, destination: Identifier, size: number): Uint8Array {
  const out = new Uint8Array(size)
  out[0] = kind
  out.set(source.bytes, 1)
  out.set(destination.bytes, 1 + IDENTIFIER_LENGTH)
  return out
}

/** A control frame (open, accept, refuse, close, fin). */
export function encodeControl(
  kind: Exclude<FrameKind, 4>,
  source: Identifier,
  destination: Identifier,
): Uint8Array {
  return header(kind, source, destination, IDS_END)
}

/** A data frame; copies `payload`, so the caller may reuse its buffer at once. `ch` must be a valid channel. */
export function encodeData(
  source: Identifier,
  destination: Identifier,
  ch: Channel,
  payload: Uint8Array,
): Uint8Array {
  const out = header(FrameKind.Data, source, destination, IDS_END + 1 + ch.length + payload.length)
  out[IDS_END] = ch.length
  for (let i = 0; i < ch.length; i++) out[IDS_END + 1 + i] = ch.charCodeAt(i)
  out.set(payload, IDS_END + 1 + ch.length)
  return out
}

/** Decodes untrusted bytes; `undefined` when they are not a well-formed frame. */
export function decodeFrame(bytes: Uint8Array): Frame | undefined {
  if (bytes.length < IDS_END) return undefined
  const kind = bytes[0]
  const source = Identifier.fromBytes(bytes.subarray(1, 1 + IDENTIFIER_LENGTH))
  const destination = Identifier.fromBytes(bytes.subarray(1 + IDENTIFIER_LENGTH, IDS_END))
  switch (kind) {
    case FrameKind.Open:
    case FrameKind.Accept:
    case FrameKind.Refuse:
    case FrameKind.Close:
    case FrameKind.Fin:
      return bytes.length === IDS_END ? { kind, source, destination } : undefined
    case FrameKind.Data: {
      const length = bytes[IDS_END]
      if (length === undefined || length < 1 || length > MAX_CHANNEL_LENGTH) return undefined
      const start = IDS_END + 1
      if (bytes.length < start + length) return undefined
      const name = String.fromCharCode(...bytes.subarray(start, start + length))
      if (!isChannel(name)) return undefined
      return { kind, source, destination, channel: name, payload: bytes.subarray(start + length) }
    }
    default:
      return undefined
  }
}
