/**
 * @packageDocumentation
 * `@skipmesh/signaling-protocol`: the skipmesh signaling protocol, defined once and imported by the server
 * (`@skipmesh/signaling-server`) and by every client (`@skipmesh/webrtc`): event names, payload types, valibot
 * schemas, the typed Socket.IO event maps, the challenge bytes a client signs, and the error codes.
 *
 * Browser-safe: it imports only `valibot`. Installing it pulls in no Socket.IO server, Redis client or metrics.
 *
 * Flow: `join { room, id, publicKey }` → `{ challenge }`; `authenticate { signature }` (Ed25519 over
 * {@link challengeBytes}) → first page of peers; then `signal { to, session, data }` to peers of the same room,
 * `list-peers { cursor }` for further pages, `leave {}`. The server pushes `peer-joined`, `peer-left` and
 * `signal { from, session, data }` (with `from` stamped from the authenticated identity).
 *
 * A host carrying many nodes (one socket, many ids): after `authenticate`, `add-identity { id, publicKey }` →
 * `{ challenge }` and `prove-identity { id, signature }` per extra id (each proven with its own key, bound to it
 * like a joined id), `remove-identity { id }`; others learn the host of an id from `peer-joined { id, host }` or
 * `resolve { id }` → `{ host }`.
 *
 * @example
 * ```ts
 * import { io, type Socket } from 'socket.io-client'
 * import { challengeBytes, type ClientToServerEvents, type ServerToClientEvents } from '@skipmesh/signaling-protocol'
 *
 * const bytesToHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
 * const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, { transports: ['websocket'] })
 * const joined = await socket.emitWithAck('join', { room: 'demo', id: myId.toHex(), publicKey: bytesToHex(keys.publicKey) })
 * if (!joined.ok) throw new Error(joined.error.code)
 * const signature = await keys.sign(challengeBytes('demo', myId.toHex(), joined.challenge))
 * const auth = await socket.emitWithAck('authenticate', { signature: bytesToHex(signature) })
 * if (auth.ok) console.log('peers present', auth.peers)
 * ```
 */

export { challengeBytes } from './challenge.js'
export {
  type Ack,
  type AckCallback,
  type AddIdentityRequest,
  type AuthenticateRequest,
  CLIENT_EVENTS,
  ClientEvent,
  type ClientEventName,
  type ClientToServerEvents,
  failure,
  type IceServersRequest,
  type IceServersResponse,
  type IssuedIceServer,
  type JoinRequest,
  type JoinResponse,
  type LeaveRequest,
  type ListPeersRequest,
  MAX_PEERS_PAGE,
  MAX_SIGNAL_DATA_DEPTH,
  MAX_SIGNAL_DATA_SIZE,
  type PeerEvent,
  type PeersPage,
  PROTOCOL_VERSION,
  type ProveIdentityRequest,
  type RemoveIdentityRequest,
  type RequestOf,
  type ResolveRequest,
  type ResolveResponse,
  type ResponseOf,
  ROOM_PATTERN,
  SESSION_PATTERN,
  SIGNAL_ERROR_CODES,
  ServerEvent,
  type ServerEventName,
  type ServerToClientEvents,
  type SignalData,
  type SignalError,
  type SignalErrorCode,
  type SignalEvent,
  type SignalRefusedEvent,
  type SignalRequest,
} from './events.js'
export {
  AddIdentityRequestSchema,
  AuthenticateRequestSchema,
  ackSchema,
  ClientRequestSchemas,
  IceServersResponseSchema,
  IdSchema,
  JoinRequestSchema,
  JoinResponseSchema,
  jsonSize,
  LeaveRequestSchema,
  ListPeersRequestSchema,
  PeerEventSchema,
  PeersPageSchema,
  payloadSchema,
  ProveIdentityRequestSchema,
  RemoveIdentityRequestSchema,
  ResolveRequestSchema,
  ResolveResponseSchema,
  RoomSchema,
  SessionSchema,
  SignalDataSchema,
  SignalErrorSchema,
  SignalEventSchema,
  SignalRefusedEventSchema,
  SignalRequestSchema,
} from './schemas.js'
