/**
 * What the connection manager needs from signaling: a room of authenticated peers and a relay of signals to them.
 * `SignalingClient` (the skipmesh signaling server's client) implements it; the manager builds one from its
 * `signaling` options unless it is given an implementation.
 *
 * @module
 */
import type { AbortOptions, Component, Identifier, TypedEvents, Unsubscribe } from '@skipmesh/core'
import type { IdentityPins } from './identity-pins.js'

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
  /**
   * Optional: which way the signals went (server or overlay) and how many signed signals were refused. The manager
   * reports them in its `metrics()`; without it, every signal counts as one through the server.
   */
  routeMetrics?(): SignalRouteMetrics
  /**
   * Optional, for a signaling that opens signed signals: the manager hands it its table of identity pins once, at
   * construction, before it starts. The signaling pins the keys of the signals it opens in that table and checks them
   * against it, the same table the manager's hellos use: an identifier that is not derived from its key is bound to
   * one key, whichever way it was first proven.
   */
  useIdentityPins?(pins: IdentityPins): void
}

/** Counters of the routes signals take, per node (see {@link Signaling.routeMetrics}). */
export interface SignalRouteMetrics {
  /** Signals this node handed to the signaling server. */
  serverSignalsSent: number
  /** Signals the signaling server delivered to this node. */
  serverSignalsReceived: number
  /** Signals this node sent over the overlay (existing connections) and the overlay delivered. */
  overlaySignalsSent: number
  /** Signals the overlay delivered to this node (verified). */
  overlaySignalsReceived: number
  /**
   * Signals that went through the server because their overlay route failed, or (the server connected) did not deliver
   * within the composite's `overlayWaitMs`; a signal sent both ways counts here and in `serverSignalsSent`.
   */
  overlayFallbacks: number
  /**
   * Signed signals this node refused (either route): altered or forged (signature), a key that does not own the
   * sender's identifier, addressed to another node, stale, replayed, or malformed.
   */
  signedSignalsRefused: number
}

/**
 * A way to carry opaque bytes to a node over connections that already exist (e.g. routed by a skip graph, see
 * `@skipmesh/skipgraph`'s `createSkipGraphSignaler`). Never dials to route. Relays are not trusted: what they carry
 * is sealed end to end.
 */
export interface SignalRelay {
  /**
   * Carries `bytes` to node `to`; resolves once `to` took them.
   * @throws {ConnectionFailedError} (or a subclass) when there is no route or a hop failed.
   * @throws {AbortError} when `options.signal` aborts.
   */
  relay(to: Identifier, bytes: Uint8Array, options?: AbortOptions): Promise<void>
  /**
   * Subscribes to the bytes other nodes relayed to this one; returns the function that unsubscribes. A handler that
   * rejects refuses the bytes: the relay reports a failure to the sender's side.
   */
  onDeliver(handler: (bytes: Uint8Array) => void | Promise<void>): Unsubscribe
}
