import {
  AbstractComponent,
  type AbortOptions,
  ComponentNotStartedError,
  ConnectionFailedError,
  type ConnectionManager,
  type ConnectionManagerEvents,
  Emitter,
  type Identifier,
  PeerNotFoundError,
  type ThrowableContext,
  type TypedEvents,
  throwIfAborted,
  type Unsubscribe,
} from '@skipmesh/core'
import { type ConnectionCounters, WebRtcConnection } from './connection.js'
import { type DialSlot, Dialer } from './dialer.js'
import { TransportClosedError } from './errors.js'
import { IceFailures } from './ice-failures.js'
import type { IdentityPins } from './identity-pins.js'
import { InboundSessions } from './inbound-sessions.js'
import { type ResolvedOptions, resolveOptions, type WebRtcConnectionManagerOptions } from './options.js'
import type { PeerSignal } from './peer-transport.js'
import { SignalOutbox } from './signal-outbox.js'
import { IncomingSignals } from './incoming-signals.js'
import type { Signaling, SignalRouteMetrics } from './signaling.js'
import type { PeerMessage } from './signals.js'
import { randomNonce } from '@skipmesh/core/internal'

/**
 * Counters of a {@link WebRtcConnectionManager}. The route counters ({@link SignalRouteMetrics}) are its signaling's;
 * with a plain server signaling, every signal counts as one through the server.
 */
export interface WebRtcMetrics extends SignalRouteMetrics {
  /** `RTCPeerConnection`s created (one per connection attempt). */
  peerConnectionsCreated: number
  /** `RTCPeerConnection`s created and not yet destroyed. */
  peerConnectionsLive: number
  /** Connections that opened (outgoing and incoming). */
  connectionsOpened: number
  /** Opened connections that closed since. */
  connectionsClosed: number
  /** Open connections. */
  connectionsActive: number
  /** Dials that failed (timeout, unknown peer, transport failure). */
  dialsFailed: number
  /** Signals sent through the signaling (batches), whichever route they took. */
  signalsSent: number
  /** Signals received from the signaling, whichever route they took. */
  signalsReceived: number
  /** Signals dropped: stale session, malformed, or not allowed from that peer. */
  signalsDropped: number
  /** Malformed control messages or frames from remotes, and oversize incoming messages. */
  protocolErrors: number
  /** Connections closed because the remote went silent. */
  heartbeatTimeouts: number
  /** Connections closed because the remote exceeded a per-peer limit (`PeerLimitExceededError`). */
  peerLimitViolations: number
  /** ICE restarts this side made on established connections that lost their path (each attempt counts). */
  iceRestarts: number
  /** Attempts whose offer/answer exchange completed but whose ICE never connected (`IceConnectionFailedError`). */
  iceConnectionFailures: number
  /** Remotes refused because they did not prove the identifier they connect as (`PeerAuthenticationError`). */
  peerAuthFailures: number
  /**
   * Offers of new sessions and dial requests refused by `maxPendingInbound` or `maxInboundSessionsPerRemote`
   * (no `RTCPeerConnection` made; also counted in `signalsDropped`).
   */
  inboundSessionsRefused: number
  /** Attempts remotes started that are connecting now (at most `maxPendingInbound`). */
  inboundSessionsPending: number
  /**
   * Remotes this side holds dial state for now: a peer connection, a dial or callers waiting. A remote that
   * signalled and holds none of these is forgotten, so this stays bounded by the live pairs, not by every remote
   * that ever signalled.
   */
  remotesTracked: number
}

/** Events of a {@link WebRtcConnectionManager}. */
export interface WebRtcConnectionManagerEvents extends Omit<ConnectionManagerEvents, 'connection'> {
  /**
   * A new connection, outgoing or incoming (core's `'connection'`, with the {@link WebRtcConnection} the manager
   * made). Emitted synchronously before its first `'message'`.
   */
  connection: (connection: WebRtcConnection) => void
  /** A peer joined the signaling room. */
  'peer:joined': (id: Identifier) => void
  /** A peer left the signaling room. */
  'peer:left': (id: Identifier) => void
  /** Joined and authenticated in the signaling room (at start and after every reconnection). */
  'signaling:up': () => void
  /** The connection to the signaling server was lost (it reconnects by itself; open connections stay). */
  'signaling:down': () => void
}

/** Session ids: 12 random bytes, hex. */
const SESSION_BYTES = 12

/**
 * The skipmesh {@link ConnectionManager} over WebRTC: one `RTCPeerConnection` per remote peer, one ordered and
 * reliable data channel per skipmesh channel, signaling through the skipmesh signaling server. Ready once joined
 * and authenticated in its room. Make one with {@link createWebRtcConnectionManager}.
 */
export class WebRtcConnectionManager
  extends AbstractComponent
  implements ConnectionManager, TypedEvents<WebRtcConnectionManagerEvents>
{
  /** This peer's identifier (also its id in the signaling room). */
  readonly localId: Identifier
  /** The largest payload one `send` accepts, in bytes (the `maxMessageSize` option). */
  readonly maxMessageSize: number
  /** The manager's signaling (started and stopped with the manager). */
  readonly signaling: Signaling
  /**
   * The manager's one table of identity pins (trust on first use, see `peerAuthentication`): its hellos check and
   * fill it, and so does its signaling for the signed signals it opens ({@link Signaling.useIdentityPins}).
   */
  readonly identityPins: IdentityPins
  readonly #options: ResolvedOptions
  readonly #events = new Emitter<WebRtcConnectionManagerEvents>()
  readonly #dialer: Dialer
  readonly #inbound: InboundSessions
  readonly #metrics: Omit<
    WebRtcMetrics,
    'inboundSessionsPending' | 'iceConnectionFailures' | 'remotesTracked' | keyof SignalRouteMetrics
  > &
    ConnectionCounters = {
    peerConnectionsCreated: 0,
    peerConnectionsLive: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
    connectionsActive: 0,
    dialsFailed: 0,
    signalsSent: 0,
    signalsReceived: 0,
    signalsDropped: 0,
    protocolErrors: 0,
    heartbeatTimeouts: 0,
    peerLimitViolations: 0,
    iceRestarts: 0,
    peerAuthFailures: 0,
    inboundSessionsRefused: 0,
  }
  readonly #outboxes = new Map<WebRtcConnection, SignalOutbox>()
  readonly #subscriptions: Unsubscribe[] = []
  readonly #opened = new WeakSet<WebRtcConnection>()
  readonly #abandonedByRemote = new WeakSet<WebRtcConnection>()
  readonly #iceFailures = new IceFailures()
  readonly #incoming: IncomingSignals

  /** @throws {InvalidOptionsError} @throws {WebRtcUnavailableError} */
  constructor(options: WebRtcConnectionManagerOptions) {
    super()
    this.#options = resolveOptions(options)
    this.localId = this.#options.localId
    this.maxMessageSize = this.#options.limits.maxMessageSize
    this.signaling = this.#options.signaling
    this.identityPins = this.#options.authenticator.pins
    this.signaling.useIdentityPins?.(this.identityPins)
    this.#dialer = new Dialer({
      connectTimeoutMs: this.#options.connectTimeoutMs,
      isReady: () => this.state === 'ready',
      begin: async (slot) => {
        if (this.#isInitiatorFor(slot.remoteId)) this.#startAttempt(slot, randomNonce(SESSION_BYTES))
        else {
          // the initiator answers under this session: its offer is the one asked for, and the signaling server
          // sees it as a reply (charged to this side, which opened the session)
          slot.solicited = randomNonce(SESSION_BYTES)
          await this.#send(slot.remoteId, slot.solicited, { dial: true })
        }
      },
      onDialFailed: () => void this.#metrics.dialsFailed++,
    })
    this.#inbound = new InboundSessions({
      maxPending: this.#options.inbound.maxPending,
      perRemote: this.#options.inbound.perRemote,
      windowMs: this.#options.connectTimeoutMs,
    })
    this.#incoming = new IncomingSignals({
      localId: this.localId,
      dialer: this.#dialer,
      inbound: this.#inbound,
      counters: this.#metrics,
      abandonedByRemote: this.#abandonedByRemote,
      isReady: () => this.state === 'ready',
      startAttempt: (slot, session) => this.#startAttempt(slot, session),
    })
  }

  /** Subscribes to an event of {@link WebRtcConnectionManagerEvents}; returns the function that unsubscribes. */
  on<E extends keyof WebRtcConnectionManagerEvents>(
    event: E,
    handler: WebRtcConnectionManagerEvents[E],
  ): Unsubscribe {
    return this.#events.on(event, handler)
  }

  /** The other peers currently in the signaling room. */
  peers(): Identifier[] {
    return this.signaling.peers()
  }

  /** A snapshot of the counters. */
  metrics(): WebRtcMetrics {
    const { peerConnectionsLive, protocolErrors, heartbeatTimeouts, ...rest } = this.#metrics
    return {
      ...rest,
      peerConnectionsLive,
      protocolErrors,
      heartbeatTimeouts,
      inboundSessionsPending: this.#inbound.pending,
      iceConnectionFailures: this.#iceFailures.count,
      remotesTracked: this.#dialer.size,
      ...this.#routeMetrics(),
    }
  }

  /** The signaling's route counters; a signaling without them sends and receives everything through its server. */
  #routeMetrics(): SignalRouteMetrics {
    return (
      this.signaling.routeMetrics?.() ?? {
        serverSignalsSent: this.#metrics.signalsSent,
        serverSignalsReceived: this.#metrics.signalsReceived,
        overlaySignalsSent: 0,
        overlaySignalsReceived: 0,
        overlayFallbacks: 0,
        signedSignalsRefused: 0,
      }
    )
  }

  /** The open connections. */
  connections(): WebRtcConnection[] {
    const out: WebRtcConnection[] = []
    for (const slot of this.#dialer.slots()) {
      if (slot.connection?.phase === 'open') out.push(slot.connection)
    }
    return out
  }

  /**
   * Returns the open connection to `id`, dialling if needed; concurrent calls share one dial.
   * @throws {PeerNotFoundError} when `id` is not in the signaling room.
   * @throws {IceConnectionFailedError} when the offer/answer exchange completed but ICE never connected (a TURN
   * server is needed, or the configured one failed) within `connectTimeoutMs`.
   * @throws {ConnectionFailedError} when no connection opened within `connectTimeoutMs`, the transport failed, or
   * `id` is this peer's own.
   * @throws {AbortError} when `options.signal` aborts (the shared dial goes on for other callers).
   * @throws {ComponentNotStartedError} when the manager is not ready or already stopping.
   */
  async connect(id: Identifier, options: AbortOptions = {}): Promise<WebRtcConnection> {
    if (this.state !== 'ready') throw new ComponentNotStartedError('WebRTC connection manager is not ready')
    if (id.equals(this.localId)) throw new ConnectionFailedError('cannot connect to oneself')
    throwIfAborted(options.signal)
    const since = performance.now()
    return this.#dialer.connect(this.#dialer.slot(id), options.signal).catch((err: unknown) => {
      throw this.#iceFailures.explain(id.toHex(), err, since)
    })
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    const signaling = this.signaling
    this.#subscriptions.push(
      signaling.on('signal', (from, session, data) => this.#incoming.handle(from, session, data)),
      signaling.on('peer:joined', (id) => this.#events.emit('peer:joined', id)),
      signaling.on('peer:left', (id) => this.#events.emit('peer:left', id)),
      signaling.on('authenticated', () => this.#events.emit('signaling:up')),
      signaling.on('disconnected', () => this.#events.emit('signaling:down')),
    )
    signaling.start(ctx)
    await signaling.ready()
  }

  protected async onStop(): Promise<void> {
    const connections = this.#dialer.failAll(
      new ComponentNotStartedError('WebRTC connection manager stopped'),
    )
    await Promise.allSettled(connections.map((c) => c.close()))
    for (const off of this.#subscriptions.splice(0)) off()
    await this.signaling.stop()
    this.#dialer.forget()
    this.#iceFailures.clear()
    this.#inbound.clear()
    this.#events.clear()
  }

  // ---- attempts

  #isInitiatorFor(remote: Identifier): boolean {
    return this.localId.compare(remote) < 0
  }

  /** The configuration of a new peer connection: the app's, plus the ICE servers the signaling issued. */
  #rtcConfiguration(): RTCConfiguration {
    const { rtc, issuedIceServers } = this.#options
    const issued = issuedIceServers ? (this.signaling.iceServers?.() ?? []) : []
    return issued.length === 0 ? rtc : { ...rtc, iceServers: [...(rtc.iceServers ?? []), ...issued] }
  }

  /** Creates the pair's peer connection: as initiator (fresh `session`) or as responder (the remote's). */
  #startAttempt(slot: DialSlot, session: string): WebRtcConnection {
    const { wrtc, peerTransport, limits, connectTimeoutMs } = this.#options
    const peer = peerTransport({
      initiator: this.#isInitiatorFor(slot.remoteId),
      wrtc,
      config: this.#rtcConfiguration(),
      // an ICE restart reads it again: the issued TURN credentials are renewed meanwhile
      currentConfig: () => this.#rtcConfiguration(),
    })
    this.#metrics.peerConnectionsCreated++
    this.#metrics.peerConnectionsLive++
    const connection = new WebRtcConnection({
      localId: this.localId,
      remoteId: slot.remoteId,
      session,
      peer,
      limits,
      counters: this.#metrics,
      authenticator: this.#options.authenticator,
      onOpen: (c) => this.#onOpen(slot, c),
      onClosed: (c, reason) => this.#onClosed(slot, c, reason),
    })
    slot.connection = connection
    const outbox = new SignalOutbox(
      (batch) => this.#sendBatch(slot, connection, batch),
      this.#options.signalHoldMs,
    )
    this.#outboxes.set(connection, outbox)
    peer.on('signal', (data) => outbox.push(data))
    // an attempt nobody waits for (a dial request from the remote, an incoming offer) times out too
    const timer = setTimeout(() => {
      if (connection.phase === 'connecting') connection.destroy(new ConnectionFailedError('connect timeout'))
    }, connectTimeoutMs)
    void connection.whenClosed().then(() => clearTimeout(timer))
    return connection
  }

  #onOpen(slot: DialSlot, connection: WebRtcConnection): void {
    // the outbox stays open while the connection lives: an ICE restart renegotiates through it
    if (slot.connection !== connection) return void connection.destroy(new TransportClosedError('superseded'))
    this.#opened.add(connection)
    this.#iceFailures.opened(slot.hex)
    this.#inbound.opened(connection)
    this.#metrics.connectionsOpened++
    this.#metrics.connectionsActive++
    this.#events.emit('connection', connection)
    this.#dialer.opened(slot, connection)
  }

  #onClosed(slot: DialSlot, connection: WebRtcConnection, reason: Error | undefined): void {
    this.#closeOutbox(connection)
    this.#inbound.closed(connection)
    this.#iceFailures.closed(slot.hex, reason)
    const wasCurrent = slot.connection === connection
    if (wasCurrent) {
      slot.connection = undefined
      this.#dialer.release(slot)
    }
    if (this.#opened.delete(connection)) {
      this.#metrics.connectionsClosed++
      this.#metrics.connectionsActive--
    } else if (wasCurrent) {
      // an attempt failed: tell the remote at once (it frees its side and, if it dials, retries) …
      if (this.state === 'ready' && !this.#abandonedByRemote.has(connection)) {
        this.#send(slot.remoteId, connection.session, { bye: true }).catch(() => {})
      }
      // … and fail the local dials waiting for it (they retry while time is left)
      const err =
        reason instanceof PeerNotFoundError || reason instanceof ConnectionFailedError
          ? reason
          : new ConnectionFailedError(`connection to ${slot.hex} failed`, { cause: reason })
      this.#dialer.failed(slot, err)
    }
  }

  #closeOutbox(connection: WebRtcConnection): void {
    this.#outboxes.get(connection)?.close()
    this.#outboxes.delete(connection)
  }

  // ---- signaling

  #sendBatch(slot: DialSlot, connection: WebRtcConnection, batch: PeerSignal[]): void {
    this.#send(slot.remoteId, connection.session, { batch }).catch((err: unknown) => {
      if (connection.phase !== 'connecting') return
      connection.destroy(
        err instanceof ConnectionFailedError
          ? err
          : new ConnectionFailedError(`signaling to ${slot.hex} failed`, { cause: err }),
      )
    })
  }

  async #send(to: Identifier, session: string, message: PeerMessage): Promise<void> {
    this.#metrics.signalsSent++
    await this.signaling.signal(to, session, message)
  }
}

/**
 * Makes an unstarted {@link WebRtcConnectionManager}.
 * @throws {InvalidOptionsError} when an option is missing or out of range.
 * @throws {WebRtcUnavailableError} when no `wrtc` is given and there is no global `RTCPeerConnection`.
 */
export function createWebRtcConnectionManager(
  options: WebRtcConnectionManagerOptions,
): WebRtcConnectionManager {
  return new WebRtcConnectionManager(options)
}

export type { WebRtcConnectionManagerOptions } from './options.js'
