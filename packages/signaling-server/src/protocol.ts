/**
 * The skipmesh signaling protocol, defined once and imported by the server (`@skipmesh/signaling-server`) and by
 * every client (`@skipmesh/webrtc`): event names, payload types, valibot schemas, the typed Socket.IO event maps,
 * the challenge bytes a client signs, and the error codes.
 *
 * Browser-safe: it imports only `valibot` (and types).
 *
 * Flow: `join { room, id, publicKey }` → `{ challenge }`; `authenticate { signature }` (Ed25519 over
 * {@link challengeBytes}) → first page of peers; then `signal { to, session, data }` to peers of the same room,
 * `list-peers { cursor }` for further pages, `leave {}`. The server pushes `peer-joined`, `peer-left` and
 * `signal { from, session, data }` (with `from` stamped from the authenticated identity).
 *
 * @example
 * ```ts
 * import { io, type Socket } from 'socket.io-client'
 * import { challengeBytes, bytesToHex, hexToBytes, type ClientToServerEvents, type ServerToClientEvents } from '@skipmesh/signaling-server/protocol'
 *
 * const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, { transports: ['websocket'] })
 * const joined = await socket.emitWithAck('join', { room: 'demo', id: myId.toHex(), publicKey: bytesToHex(keys.publicKey) })
 * if (!joined.ok) throw new Error(joined.error.code)
 * const signature = await keys.sign(challengeBytes('demo', myId.toHex(), joined.challenge))
 * const auth = await socket.emitWithAck('authenticate', { signature: bytesToHex(signature) })
 * if (auth.ok) console.log('peers present', auth.peers)
 * ```
 *
 * @module
 */
import * as v from 'valibot'

/** Protocol version; part of the signed challenge text (`skipmesh-signal-v1`). */
export const PROTOCOL_VERSION = 1

/** Maximum number of peer ids in one page of `authenticate` / `list-peers` results. */
export const MAX_PEERS_PAGE = 256

/** Maximum size of a signal's `data`, serialized as JSON (UTF-16 code units, a close upper bound of UTF-8 for SDP). */
export const MAX_SIGNAL_DATA_SIZE = 60 * 1024

/** Maximum nesting depth of a signal's `data` object (simple-peer needs 3). */
export const MAX_SIGNAL_DATA_DEPTH = 8

/** Pattern of a room name: 1–64 characters of `[A-Za-z0-9._-]`. */
export const ROOM_PATTERN = /^[A-Za-z0-9._-]{1,64}$/

/** Pattern of a session id: 1–64 characters of `[A-Za-z0-9._:-]`. */
export const SESSION_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/

const HEX64 = /^[0-9a-f]{64}$/
const HEX128 = /^[0-9a-f]{128}$/

/** Client→server event names. */
export const ClientEvent = {
  Join: 'join',
  Authenticate: 'authenticate',
  ListPeers: 'list-peers',
  Signal: 'signal',
  Leave: 'leave',
} as const

/** Server→client event names. */
export const ServerEvent = {
  PeerJoined: 'peer-joined',
  PeerLeft: 'peer-left',
  Signal: 'signal',
} as const

/** Every error code an ack can carry. */
export const SIGNAL_ERROR_CODES = [
  'invalid-payload',
  'not-joined',
  'already-joined',
  'bad-signature',
  'id-taken',
  'unknown-peer',
  'room-full',
  'rate-limited',
  'internal',
] as const

/**
 * Why the server refused a request:
 * - `invalid-payload`: the payload failed validation (wrong types, missing fields, oversize, binary, junk).
 * - `not-joined`: the request needs a joined (and, except `authenticate`, authenticated) socket.
 * - `already-joined`: `join` on a socket that already joined a room (send `leave` first).
 * - `bad-signature`: the challenge signature does not verify against the claimed public key (or no challenge).
 * - `id-taken`: another public key owns this id in this room (registered, or within its grace period).
 * - `unknown-peer`: `to` is not registered in the sender's room.
 * - `room-full`: the room already holds the configured maximum of peers.
 * - `rate-limited`: the socket exceeded its request budget; keep flooding and it is disconnected.
 * - `internal`: a server-side failure (for example the registry store is unreachable).
 */
export type SignalErrorCode = (typeof SIGNAL_ERROR_CODES)[number]

/** The error an ack carries when `ok` is false. */
export interface SignalError {
  /** Machine-readable reason; branch on this. */
  readonly code: SignalErrorCode
  /** Human-readable detail; never branch on it. */
  readonly message: string
}

/** An acknowledgement: `{ ok: true, ...result }` or `{ ok: false, error }`. */
export type Ack<T extends object = Record<never, never>> =
  | ({ readonly ok: true } & T)
  | { readonly ok: false; readonly error: SignalError }

/** An ack callback, the last argument of every client→server event. */
export type AckCallback<T extends object = Record<never, never>> = (res: Ack<T>) => void

/** The opaque, JSON-serializable payload of a signal: an SDP description or ICE candidate (simple-peer `SignalData`). */
export type SignalData = Record<string, unknown>

// ---------------------------------------------------------------------------------------------------------------
// Payloads

/** `join` request: claim `id` in `room` with the Ed25519 `publicKey` that will sign the challenge. */
export interface JoinRequest {
  /** Room name, see {@link ROOM_PATTERN}. */
  readonly room: string
  /** The peer's identifier: 64 lowercase hex digits (core `Identifier.toHex()`). */
  readonly id: string
  /** The raw 32-byte Ed25519 public key as 64 lowercase hex digits. */
  readonly publicKey: string
}

/** `join` result. */
export interface JoinResponse {
  /** 32 random bytes as 64 lowercase hex digits; sign {@link challengeBytes} over it. */
  readonly challenge: string
}

/** `authenticate` request. */
export interface AuthenticateRequest {
  /** The 64-byte Ed25519 signature over `challengeBytes(room, id, challenge)`, 128 lowercase hex digits. */
  readonly signature: string
}

/** A page of peer ids (sorted ascending, excluding the requester). */
export interface PeersPage {
  /** Up to {@link MAX_PEERS_PAGE} ids, sorted. */
  readonly peers: string[]
  /** Present when more peers follow; pass it to `list-peers`. Opaque. */
  readonly nextCursor?: string
}

/** `list-peers` request. */
export interface ListPeersRequest {
  /** The `nextCursor` of the previous page; omitted for the first page. */
  readonly cursor?: string
}

/** `signal` request: relay `data` to peer `to` of the same room. */
export interface SignalRequest {
  /** The destination id (64 lowercase hex digits), registered in the sender's room. */
  readonly to: string
  /** Sender-chosen id of the RTCPeerConnection attempt, see {@link SESSION_PATTERN}; lets receivers drop stale signals. */
  readonly session: string
  /** A JSON object, serialized at most {@link MAX_SIGNAL_DATA_SIZE}, nested at most {@link MAX_SIGNAL_DATA_DEPTH}. */
  readonly data: object
}

/** `leave` request (empty). */
export type LeaveRequest = Record<never, never>

/** `peer-joined` / `peer-left` event. */
export interface PeerEvent {
  /** The id of the peer that joined (authenticated) or left the room. */
  readonly id: string
}

/** `signal` event delivered to the destination. */
export interface SignalEvent {
  /** The authenticated id of the sender (stamped by the server). */
  readonly from: string
  /** The sender's session id. */
  readonly session: string
  /** The sender's data, unchanged. */
  readonly data: SignalData
}

// ---------------------------------------------------------------------------------------------------------------
// Typed Socket.IO event maps

/** Events a client emits; each takes its payload and an ack callback. */
export interface ClientToServerEvents {
  /** Claims `id` in `room` for `publicKey`; answers the challenge to sign. Errors: `already-joined`, `id-taken`, `room-full`. */
  join: (payload: JoinRequest, ack: AckCallback<JoinResponse>) => void
  /** Proves the key; answers the first page of peers. Errors: `not-joined`, `bad-signature`, `id-taken`, `room-full`. */
  authenticate: (payload: AuthenticateRequest, ack: AckCallback<PeersPage>) => void
  /** The next page of peers after `cursor`. Errors: `not-joined`. */
  'list-peers': (payload: ListPeersRequest, ack: AckCallback<PeersPage>) => void
  /** Relays `data` to `to` in the same room. Errors: `not-joined`, `unknown-peer`. */
  signal: (payload: SignalRequest, ack: AckCallback) => void
  /** Leaves the room (the id stays owned by the key for the grace period). Errors: `not-joined`. */
  leave: (payload: LeaveRequest, ack: AckCallback) => void
}

/** Events the server pushes to a joined and authenticated client. */
export interface ServerToClientEvents {
  /** A peer authenticated in this room (again, after a `peer-left`, when it replaced a stale connection). */
  'peer-joined': (event: PeerEvent) => void
  /** A peer left, disconnected, was replaced by a new connection, or its server instance died. */
  'peer-left': (event: PeerEvent) => void
  /** A signal from a peer of this room; `from` is its authenticated id. */
  signal: (event: SignalEvent) => void
}

/**
 * Events between server instances: none. Instances coordinate only through the adapter's room broadcasts and the
 * registry (Redis keys), so an instance that dies cannot leave a conversation half done.
 */
export type InterServerEvents = Record<never, never>

/** Per-socket state the server keeps in `socket.data` (visible to `fetchSockets()` on every instance). */
export interface SocketData {
  /** The room this socket joined, once `join` succeeded. */
  room?: string
  /** The claimed id, once `join` succeeded. */
  id?: string
  /** The claimed public key (hex), once `join` succeeded. */
  publicKey?: string
  /** The pending challenge (hex), between `join` and `authenticate`. */
  challenge?: string
  /** Whether `authenticate` succeeded. */
  authenticated?: boolean
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas

/** Ids: 64 lowercase hex digits. */
export const IdSchema = v.pipe(v.string(), v.regex(HEX64, 'must be 64 lowercase hex digits'))
/** Rooms: see {@link ROOM_PATTERN}. */
export const RoomSchema = v.pipe(
  v.string(),
  v.regex(ROOM_PATTERN, 'must be 1-64 characters of [A-Za-z0-9._-]'),
)
/** Session ids: see {@link SESSION_PATTERN}. */
export const SessionSchema = v.pipe(
  v.string(),
  v.regex(SESSION_PATTERN, 'must be 1-64 characters of [A-Za-z0-9._:-]'),
)

/**
 * Size of `value` serialized as JSON (approximate: string escapes are not counted), or -1 when `value` is not a
 * plain JSON value (binary, class instances, functions, non-finite numbers, cycles) or nests deeper than
 * `maxDepth`. Stops early once `limit` is exceeded (returns a value > limit).
 */
export function jsonSize(
  value: unknown,
  maxDepth = MAX_SIGNAL_DATA_DEPTH,
  limit = MAX_SIGNAL_DATA_SIZE,
): number {
  let total = 0
  const walk = (x: unknown, depth: number): boolean => {
    if (total > limit) return true
    if (x === null) {
      total += 4
      return true
    }
    switch (typeof x) {
      case 'string':
        total += x.length + 2
        return true
      case 'number':
        if (!Number.isFinite(x)) return false
        total += String(x).length
        return true
      case 'boolean':
        total += 5
        return true
      case 'object': {
        if (depth >= maxDepth) return false
        if (Array.isArray(x)) {
          total += 2
          for (const item of x) {
            total += 1
            if (!walk(item, depth + 1)) return false
            if (total > limit) return true
          }
          return true
        }
        const proto = Object.getPrototypeOf(x) as unknown
        if (proto !== Object.prototype && proto !== null) return false
        total += 2
        for (const [k, item] of Object.entries(x as Record<string, unknown>)) {
          total += k.length + 4
          if (!walk(item, depth + 1)) return false
          if (total > limit) return true
        }
        return true
      }
      default:
        return false
    }
  }
  return walk(value, 0) ? total : -1
}

/** Signal data: a plain JSON object within the size and depth limits. */
export const SignalDataSchema = v.pipe(
  v.custom<SignalData>((x) => isPlainObject(x), 'data must be a JSON object'),
  v.check((x) => {
    const size = jsonSize(x)
    return size >= 0 && size <= MAX_SIGNAL_DATA_SIZE
  }, `data must be plain JSON, at most ${MAX_SIGNAL_DATA_SIZE} bytes and ${MAX_SIGNAL_DATA_DEPTH} levels deep`),
)

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false
  const proto = Object.getPrototypeOf(x) as unknown
  return proto === Object.prototype || proto === null
}

/** A payload object: a plain object (no array, binary or class instance) with `entries` (unknown keys stripped). */
export function payloadSchema<const TEntries extends v.ObjectEntries>(entries: TEntries) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isPlainObject, 'payload must be a plain object'),
    v.object(entries),
  )
}

/** `join` payload. */
export const JoinRequestSchema = payloadSchema({
  room: RoomSchema,
  id: IdSchema,
  publicKey: v.pipe(v.string(), v.regex(HEX64, 'must be a 32-byte key as 64 lowercase hex digits')),
})

/** `authenticate` payload. */
export const AuthenticateRequestSchema = payloadSchema({
  signature: v.pipe(v.string(), v.regex(HEX128, 'must be a 64-byte signature as 128 lowercase hex digits')),
})

/** `list-peers` payload. */
export const ListPeersRequestSchema = payloadSchema({ cursor: v.optional(IdSchema) })

/** `signal` payload (any client-supplied `from` is stripped). */
export const SignalRequestSchema = payloadSchema({
  to: IdSchema,
  session: SessionSchema,
  data: SignalDataSchema,
})

/** `leave` payload. */
export const LeaveRequestSchema = payloadSchema({})

/** `peer-joined` / `peer-left` payload (clients should validate what the server pushes too). */
export const PeerEventSchema = v.object({ id: IdSchema })

/** `signal` event payload as delivered to the destination. */
export const SignalEventSchema = v.object({ from: IdSchema, session: SessionSchema, data: SignalDataSchema })

/** The error part of a failed ack. */
export const SignalErrorSchema = v.object({ code: v.picklist(SIGNAL_ERROR_CODES), message: v.string() })

/** `join` result. */
export const JoinResponseSchema = v.object({ challenge: IdSchema })

/** `authenticate` / `list-peers` result. */
export const PeersPageSchema = v.object({
  peers: v.pipe(v.array(IdSchema), v.maxLength(MAX_PEERS_PAGE)),
  nextCursor: v.optional(IdSchema),
})

/** Builds the schema of an ack whose success part is `ok` (for clients validating server answers). */
export function ackSchema<const TEntries extends v.ObjectEntries>(ok: v.ObjectSchema<TEntries, undefined>) {
  return v.variant('ok', [
    v.object({ ...ok.entries, ok: v.literal(true) }),
    v.object({ ok: v.literal(false), error: SignalErrorSchema }),
  ])
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const encoder = new TextEncoder()

/**
 * The bytes a client signs to prove it owns `publicKey` for `id` in `room`: UTF-8 of
 * `skipmesh-signal-v1\n${room}\n${id}\n${challenge}`.
 */
export function challengeBytes(room: string, id: string, challenge: string): Uint8Array {
  return encoder.encode(`skipmesh-signal-v${PROTOCOL_VERSION}\n${room}\n${id}\n${challenge}`)
}

/** Lowercase hex of `bytes`. */
export function bytesToHex(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

/** Bytes of an even-length hex string. @throws {TypeError} when `hex` is not even-length hex. */
export function hexToBytes(hex: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new TypeError('not an even-length hex string')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

/** Builds a failed ack with `code` and a human-readable `message`. */
export function failure(code: SignalErrorCode, message: string): Ack<never> {
  return { ok: false, error: { code, message } }
}
