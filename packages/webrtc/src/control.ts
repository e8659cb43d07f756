/**
 * Control-channel messages (negotiated data channel id 2, JSON text). Every message from the remote is untrusted:
 * {@link parseControl} validates it and returns `undefined` for anything malformed.
 *
 * @module
 */
import { type Channel, isChannel } from '@skipmesh/core'

/** Version of the peer-to-peer protocol, sent in `hello`. */
export const PEER_PROTOCOL_VERSION = 1
/**
 * Stream ids 0 and 1 are left to the peer transport's in-band data channel (and to a simple-peer peer's): the
 * WebRTC stack allocates it 0 or 1 (and libdatachannel may shift a provisional 1 to 0 once the DTLS role is
 * known), so skipmesh never uses either.
 */
export const IN_BAND_CHANNEL_IDS: readonly number[] = [0, 1]
/** Stream id of the negotiated control channel. */
export const CONTROL_CHANNEL_ID = 2
/** Smallest stream id of a skipmesh channel: the lower identifier allocates 4, 6, …; the higher 5, 7, …. */
export const FIRST_CHANNEL_ID = 4
/** Largest stream id skipmesh allocates (SCTP allows 65534; implementations negotiate fewer streams). */
export const MAX_CHANNEL_ID = 1023
/** Longest control message accepted, in characters. */
export const MAX_CONTROL_MESSAGE_LENGTH = 64 * 1024

/** The messages of the control channel. */
export type ControlMessage =
  /**
   * First message on a new connection: protocol version and the sender's `maxMessageSize`; from a sender with a key
   * pair, its identity proof (`pk`, `sig`: see `peer-auth.ts`). Peers that predate the proof ignore it.
   */
  | {
      readonly t: 'hello'
      readonly v: number
      readonly max: number
      readonly pk?: string
      readonly sig?: string
    }
  /** The sender created negotiated data channel `id` for skipmesh channel `ch`. */
  | { readonly t: 'open'; readonly id: number; readonly ch: Channel }
  /** The sender created the matching negotiated data channel `id`: it may now carry messages. */
  | { readonly t: 'ack'; readonly id: number }
  | { readonly t: 'ping' }
  | { readonly t: 'pong' }
  /** Close handshake, first half: the sender sends nothing more; `sent` is its frame count per data channel id. */
  | { readonly t: 'close'; readonly sent: ReadonlyArray<readonly [number, number]> }
  /** Close handshake, second half: the sender received every frame the other side announced in its `close`. */
  | { readonly t: 'fin' }

function isId(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= FIRST_CHANNEL_ID && x <= MAX_CHANNEL_ID
}

function isHex(x: unknown, length: number): x is string {
  return typeof x === 'string' && x.length === length && /^[0-9a-f]+$/i.test(x)
}

/** The hello's identity proof: both fields (an Ed25519 key and signature, hex) or neither; else malformed. */
function helloProof(o: Record<string, unknown>): { pk?: string; sig?: string } | undefined {
  if (o.pk === undefined && o.sig === undefined) return {}
  return isHex(o.pk, 64) && isHex(o.sig, 128) ? { pk: o.pk, sig: o.sig } : undefined
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

/** Parses one control message from the remote; `undefined` when it is malformed. Never throws. */
export function parseControl(data: unknown): ControlMessage | undefined {
  if (typeof data !== 'string' || data.length > MAX_CONTROL_MESSAGE_LENGTH) return undefined
  let m: unknown
  try {
    m = JSON.parse(data)
  } catch {
    return undefined
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined
  const o = m as Record<string, unknown>
  switch (o.t) {
    case 'hello': {
      const proof = helloProof(o)
      return typeof o.v === 'number' &&
        Number.isInteger(o.v) &&
        isCount(o.max) &&
        o.max > 0 &&
        proof !== undefined
        ? { t: 'hello', v: o.v, max: o.max, ...proof }
        : undefined
    }
    case 'open':
      return isId(o.id) && isChannel(o.ch) ? { t: 'open', id: o.id, ch: o.ch } : undefined
    case 'ack':
      return isId(o.id) ? { t: 'ack', id: o.id } : undefined
    case 'ping':
    case 'pong':
    case 'fin':
      return { t: o.t }
    case 'close': {
      if (!Array.isArray(o.sent) || o.sent.length > MAX_CHANNEL_ID) return undefined
      const sent: Array<readonly [number, number]> = []
      for (const entry of o.sent as unknown[]) {
        if (!Array.isArray(entry) || entry.length !== 2 || !isId(entry[0]) || !isCount(entry[1]))
          return undefined
        sent.push([entry[0], entry[1]])
      }
      return { t: 'close', sent }
    }
    default:
      return undefined
  }
}

/** Serializes a control message. */
export function encodeControl(message: ControlMessage): string {
  return JSON.stringify(message)
}
