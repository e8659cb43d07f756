/**
 * What the connection manager needs from signaling: a room of authenticated peers and a relay of signals to them.
 * `SignalingClient` (the skipmesh signaling server's client) implements it; the manager builds one from its
 * `signaling` options unless it is given an implementation.
 *
 * @module
 */
import type { AbortOptions, Component, Identifier, TypedEvents } from '@skipmesh/core'

/** The payload of a signal: a JSON object (validated by the receiver). */
export type SignalPayload = Record<string, unknown>

/** Events of a {@link Signaling}. */
export interface SignalingEvents {
  /** A signal from `from`, the identity the signaling service authenticated. */
  signal: (from: Identifier, session: string, data: SignalPayload) => void
  /** A peer joined the room (authenticated). */
  'peer:joined': (id: Identifier) => void
  /** A peer left the room. */
  'peer:left': (id: Identifier) => void
  /**
   * The service announced that `id` is an extra identity carried by the connection of `host` (a host running
   * many nodes). Emitted before `'peer:joined'`, also for an id already known.
   */
  'peer:host': (id: Identifier, host: Identifier) => void
  /** Joined and authenticated, at start and again after every reconnection; `peers` are the others in the room. */
  authenticated: (peers: Identifier[]) => void
  /** The connection to the signaling service was lost (it reconnects by itself). */
  disconnected: (reason: string) => void
}

/** A signaling service: started and stopped with the manager that uses it; `ready()` once joined. */
export interface Signaling extends Component, TypedEvents<SignalingEvents> {
  /** The other peers currently in the room. */
  peers(): Identifier[]
  /**
   * Relays `data` to peer `to` under `session`.
   * @throws {PeerNotFoundError} when `to` is not in the room.
   * @throws {ConnectionFailedError} (a subclass) when the service refuses or is unreachable.
   * @throws {AbortError} when `options.signal` aborts.
   */
  signal(to: Identifier, session: string, data: SignalPayload, options?: AbortOptions): Promise<void>
  /**
   * Optional: ICE servers the service issued this peer (e.g. TURN with time-limited credentials), currently valid.
   * The manager adds them to its peer connections' `iceServers` unless the app passed its own.
   */
  iceServers?(): RTCIceServer[]
}
