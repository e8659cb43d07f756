/**
 * The vocabulary of the signaling protocol: limits, event names, error codes, the payload of every event and the
 * typed Socket.IO event maps built from them. Types and constants only.
 *
 * @module
 */

/** Protocol version; part of the signed challenge text (`skipmesh-signal-v1`). */
export const PROTOCOL_VERSION = 1

/** Maximum number of peer ids in one page of `authenticate` / `list-peers` results. */
export const MAX_PEERS_PAGE = 256

/** Maximum size of a signal's `data`, serialized as JSON (UTF-16 code units, a close upper bound of UTF-8 for SDP). */
export const MAX_SIGNAL_DATA_SIZE = 60 * 1024

/** Maximum nesting depth of a signal's `data` object (a batch of ICE candidates needs 3). */
export const MAX_SIGNAL_DATA_DEPTH = 8

/** Pattern of a room name: 1–64 characters of `[A-Za-z0-9._-]`. */
export const ROOM_PATTERN = /^[A-Za-z0-9._-]{1,64}$/

/** Pattern of a session id: 1–64 characters of `[A-Za-z0-9._:-]`. */
export const SESSION_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/

/** Client→server event names. */
export const ClientEvent = {
  Join: 'join',
  Authenticate: 'authenticate',
  ListPeers: 'list-peers',
  Signal: 'signal',
  Leave: 'leave',
  AddIdentity: 'add-identity',
  ProveIdentity: 'prove-identity',
  RemoveIdentity: 'remove-identity',
  Resolve: 'resolve',
  IceServers: 'ice-servers',
} as const

/** The name of a client→server event. */
export type ClientEventName = (typeof ClientEvent)[keyof typeof ClientEvent]

/** Every client→server event name; a server refuses any other event. */
export const CLIENT_EVENTS: readonly ClientEventName[] = Object.freeze(Object.values(ClientEvent))

/** Server→client event names. */
export const ServerEvent = {
  PeerJoined: 'peer-joined',
  PeerLeft: 'peer-left',
  Signal: 'signal',
  SignalRefused: 'signal-refused',
} as const

/** The name of a server→client event. */
export type ServerEventName = (typeof ServerEvent)[keyof typeof ServerEvent]

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
  'too-many-identities',
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
 * - `too-many-identities`: `add-identity` on a socket that already carries the configured maximum of identities.
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

/** Builds a failed ack with `code` and a human-readable `message`. */
export function failure(code: SignalErrorCode, message: string): Ack<never> {
  return { ok: false, error: { code, message } }
}

/** The opaque, JSON-serializable payload of a signal: an SDP description or ICE candidate (the webrtc package validates its shape). */
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
  /** 32 random bytes as 64 lowercase hex digits; sign `challengeBytes(room, id, challenge)`. */
  readonly challenge: string
  /**
   * `true` from a server that answers a `signal` sent without an ack callback only when it refuses it, with a
   * `signal-refused` push ({@link SignalRefusedEvent}); a client may then leave out the ack where it does not need
   * to hear of success. Absent from older servers, which drop the refusal of a signal sent without an ack.
   */
  readonly signalRefusals?: boolean
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

/**
 * `add-identity` request: one more id for this authenticated socket (a host carrying many nodes), proven like
 * `join`: the answer is a challenge that `publicKey` must sign (`challengeBytes(room, id, challenge)`).
 */
export interface AddIdentityRequest {
  /** The extra id (64 lowercase hex digits). */
  readonly id: string
  /** The Ed25519 public key that owns `id`, 64 lowercase hex digits. */
  readonly publicKey: string
}

/** `prove-identity` request: the signature over `challengeBytes(room, id, challenge)` of the `add-identity` answer. */
export interface ProveIdentityRequest {
  /** The id being added. */
  readonly id: string
  /** The 64-byte Ed25519 signature, 128 lowercase hex digits. */
  readonly signature: string
}

/** `remove-identity` request: releases an extra id of this socket (its key keeps owning it for the grace period). */
export interface RemoveIdentityRequest {
  /** An id this socket added. */
  readonly id: string
}

/** `resolve` request: which socket identity (host) carries each of `ids`. */
export interface ResolveRequest {
  /** 1 to {@link MAX_PEERS_PAGE} ids of the room. */
  readonly ids: string[]
}

/** `resolve` result. */
export interface ResolveResponse {
  /**
   * For each live id asked about, the id the socket carrying it joined with: its host (the id itself for a
   * socket's own id). Ids that are not live in the room are absent.
   */
  readonly hosts: Record<string, string>
}

/** `ice-servers` request (empty). */
export type IceServersRequest = Record<never, never>

/**
 * One time-limited TURN server entry, as `RTCIceServer` takes it, in the TURN REST API scheme (username
 * `<expiry>:<id>`, credential base64 HMAC-SHA1 of it under the secret the server shares with the TURN server).
 */
export interface IssuedIceServer {
  readonly urls: string[]
  readonly username: string
  readonly credential: string
  /** When the credential stops working, in ms since the epoch: ask again before. */
  readonly expiresAt: number
}

/** `ice-servers` result: empty when the server has no TURN configured. */
export interface IceServersResponse {
  readonly iceServers: IssuedIceServer[]
}

/** `peer-joined` / `peer-left` event. */
export interface PeerEvent {
  /** The id of the peer that joined (authenticated) or left the room. */
  readonly id: string
  /**
   * `peer-joined` only, for an id added with `add-identity`: the id of the socket (host) that carries it.
   * Absent for a socket's own id (its host is itself).
   */
  readonly host?: string
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

/**
 * `signal-refused` event: the server refused a `signal` its sender emitted without an ack callback (a server whose
 * join answer carried `signalRefusals`). Pushed to the sender only; a signal it relays gets no answer.
 */
export interface SignalRefusedEvent {
  /** The refused request's `to` (empty when it had none). */
  readonly to: string
  /** The refused request's `session` (empty when it had none). */
  readonly session: string
  /** Why: the code and message the ack would have carried. */
  readonly error: SignalError
  /** `rate-limited` only: the refused request's `data`, so that the sender can send it again later. */
  readonly data?: SignalData
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
  /**
   * Relays `data` to `to` in the same room. Errors: `not-joined`, `unknown-peer`. Emitted without an ack, a server
   * that announced `signalRefusals` answers only a refusal, as a `signal-refused` push.
   */
  signal: (payload: SignalRequest, ack: AckCallback) => void
  /** Leaves the room (the id stays owned by the key for the grace period). Errors: `not-joined`. */
  leave: (payload: LeaveRequest, ack: AckCallback) => void
  /**
   * Starts adding `id` to this authenticated socket; answers the challenge to sign. Errors: `not-joined`,
   * `already-joined` (the socket already carries `id`), `id-taken`, `too-many-identities`.
   */
  'add-identity': (payload: AddIdentityRequest, ack: AckCallback<JoinResponse>) => void
  /**
   * Proves the key of an id being added; the id is then live in the room, carried by this socket (announced with
   * `peer-joined { id, host }`). Errors: `not-joined` (no `add-identity` pending), `bad-signature`, `id-taken`,
   * `room-full`.
   */
  'prove-identity': (payload: ProveIdentityRequest, ack: AckCallback) => void
  /** Releases an id this socket added (announced with `peer-left`). Errors: `not-joined`. */
  'remove-identity': (payload: RemoveIdentityRequest, ack: AckCallback) => void
  /** The hosts (socket identities) that carry live ids of the room. Errors: `not-joined`. */
  resolve: (payload: ResolveRequest, ack: AckCallback<ResolveResponse>) => void
  /** Time-limited TURN credentials for this authenticated socket (none when the server has no TURN). Errors: `not-joined`. */
  'ice-servers': (payload: IceServersRequest, ack: AckCallback<IceServersResponse>) => void
}

/** Events the server pushes to a joined and authenticated client. */
export interface ServerToClientEvents {
  /** A peer authenticated in this room (again, after a `peer-left`, when it replaced a stale connection). */
  'peer-joined': (event: PeerEvent) => void
  /** A peer left, disconnected, was replaced by a new connection, or its server instance died. */
  'peer-left': (event: PeerEvent) => void
  /** A signal from a peer of this room; `from` is its authenticated id. */
  signal: (event: SignalEvent) => void
  /** A `signal` this client sent without an ack was refused (see {@link JoinResponse.signalRefusals}). */
  'signal-refused': (event: SignalRefusedEvent) => void
}

/** The request payload of client event `E`. */
export type RequestOf<E extends ClientEventName> = Parameters<ClientToServerEvents[E]>[0]

/** The success part of the ack of client event `E`. */
export type ResponseOf<E extends ClientEventName> =
  Parameters<ClientToServerEvents[E]>[1] extends AckCallback<infer T> ? T : never
