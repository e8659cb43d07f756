/**
 * What every part of a running server shares: the typed Socket.IO server, the registry, metrics, an
 * instance-tagged log, the resolved options, and the few operations several parts need (count a rejection,
 * announce departures, track work that `close()` must wait for). Built once per server by `createSignalingServer`
 * and passed explicitly; nothing here is module-global.
 *
 * @module
 */
import type {
  ClientToServerEvents,
  ServerToClientEvents,
  SignalErrorCode,
  SignalEvent,
} from '@skipmesh/signaling-protocol'
import type { Server, Socket } from 'socket.io'
import type { LogFields, Logger } from './logger.js'
import type { RejectionReason, ServerMetrics } from './metrics.js'
import type { ResolvedOptions } from './options.js'
import type { OrphanedRegistration, Registry } from './registry.js'

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
  /** Extra ids this socket carries or is adding (`add-identity`), by id. */
  identities?: Record<string, ExtraIdentity>
}

/** An extra id of a socket (a host carrying many nodes). */
export interface ExtraIdentity {
  /** The public key (hex) that must prove, or proved, the id. */
  publicKey: string
  /** The pending challenge (hex), between `add-identity` and `prove-identity`. */
  challenge?: string
  /** Whether `prove-identity` succeeded: the id is live, carried by this socket. */
  live: boolean
}

/** The typed Socket.IO server. */
export type SignalingIo = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>

/** One typed Socket.IO socket of {@link SignalingIo}. */
export type SignalingSocket = Socket<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>

/** The shared state and operations of one running server. */
export interface ServerContext {
  readonly io: SignalingIo
  readonly registry: Registry
  readonly metrics: ServerMetrics
  /** The caller's logger, every entry tagged with `instanceId`. */
  readonly log: Logger
  readonly options: ResolvedOptions
  /** Counts a refusal in `skipmesh_signal_rejections_total{reason}`. */
  reject(reason: RejectionReason): void
  /** Tells the rooms of `left` that those peers left. */
  announceLeft(left: readonly OrphanedRegistration[]): void
  /**
   * Delivers `signal` to peer `id` of `room`, on whichever instance its socket is; counts it in
   * `signalsRelayedRemote` when that socket is not on this instance.
   */
  deliverSignal(room: string, id: string, signal: SignalEvent): void
  /** Remembers `work` until it settles, so `close()` can wait for it before Redis goes away. */
  track<T>(work: Promise<T>): Promise<T>
  /** Waits (at most `timeoutMs`) for the tracked work. */
  settled(timeoutMs: number): Promise<void>
}

/** The Socket.IO room of every authenticated peer of `room` (room announcements go here). */
export function roomKey(room: string): string {
  return `room:${room}`
}

/** The Socket.IO room of one peer (targeted emits go here, so they reach it on any instance). */
export function peerKey(room: string, id: string): string {
  return `peer:${room}:${id}`
}

/** A request refused with a protocol error code: the handler throws it, the client gets it as a failed ack. */
export class Refusal extends Error {
  override name = 'Refusal'

  constructor(
    readonly code: SignalErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** `logger` with `instanceId` added to every entry's fields. */
export function tagLogger(logger: Logger, instanceId: string): Logger {
  const tag = (f?: LogFields): LogFields => ({ instanceId, ...f })
  return {
    debug: (msg, f) => logger.debug(msg, tag(f)),
    info: (msg, f) => logger.info(msg, tag(f)),
    warn: (msg, f) => logger.warn(msg, tag(f)),
    error: (msg, f) => logger.error(msg, tag(f)),
  }
}

/**
 * The {@link ServerContext} of `io`: wires `reject`, `announceLeft`, `deliverSignal` and the tracking of in-flight
 * work. With `singleInstance` (the in-memory adapter: every socket is on this instance) a signal is written to the
 * sockets of the peer's room directly, which is what the adapter's broadcast to that room does, without building a
 * broadcast per signal.
 */
export function createContext(parts: {
  io: SignalingIo
  registry: Registry
  metrics: ServerMetrics
  log: Logger
  options: ResolvedOptions
  singleInstance: boolean
}): ServerContext {
  const { singleInstance, ...shared } = parts
  const { io, metrics } = parts
  const nsp = io.of('/')
  const inflight = new Set<Promise<unknown>>()
  return {
    ...shared,
    deliverSignal: singleInstance
      ? (room, id, signal) => {
          const members = nsp.adapter.rooms.get(peerKey(room, id))
          if (members === undefined) return
          for (const socketId of members) nsp.sockets.get(socketId)?.emit('signal', signal)
        }
      : (room, id, signal) => {
          const key = peerKey(room, id)
          if (!nsp.adapter.rooms.has(key)) metrics.signalsRelayedRemote.inc()
          io.to(key).emit('signal', signal)
        },
    reject: (reason) => metrics.rejections.inc({ reason }),
    announceLeft: (left) => {
      for (const { room, id } of left) io.to(roomKey(room)).emit('peer-left', { id })
    },
    track: (work) => {
      inflight.add(work)
      const forget = (): void => {
        inflight.delete(work)
      }
      work.then(forget, forget)
      return work
    },
    settled: async (timeoutMs) => {
      await Promise.race([
        Promise.allSettled([...inflight]),
        new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ])
    },
  }
}
