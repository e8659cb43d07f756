import {
  AbstractComponent,
  type AbortOptions,
  ComponentNotStartedError,
  type ConnectionManager,
  type ConnectionManagerEvents,
  ConnectionFailedError,
  Emitter,
  Identifier,
  type KeyPair,
  PeerNotFoundError,
  raceSignal,
  type ThrowableContext,
  type TypedEvents,
  throwIfAborted,
  type Unsubscribe,
} from '@skipmesh/core'
import type { SignalData } from '@skipmesh/signaling-server/protocol'
import SimplePeer from 'simple-peer'
import { type ConnectionCounters, type ConnectionLimits, WebRtcConnection } from './connection.js'
import {
  InvalidOptionsError,
  SignalingRejectedError,
  SignalingUnavailableError,
  TransportClosedError,
} from './errors.js'
import { SignalingClient, type SignalingClientOptions } from './signaling-client.js'
import { resolveWrtc, type WrtcImplementation } from './wrtc.js'

/** Options of {@link createWebRtcConnectionManager}. */
export interface WebRtcConnectionManagerOptions {
  /** This peer's identifier; also its id in the signaling room. */
  readonly localId: Identifier
  /** The Ed25519 key pair (core `generateKeyPair()`) that proves ownership of `localId` to the signaling server. */
  readonly keyPair: KeyPair
  /**
   * The signaling server and room, plus any other {@link SignalingClientOptions} (`path`, `ackTimeoutMs`,
   * `joinTimeoutMs`, `reconnectDelayMs`, `reconnectDelayMaxMs`, `socketOptions`).
   */
  readonly signaling: Omit<SignalingClientOptions, 'localId' | 'keyPair'>
  /**
   * `RTCConfiguration` of every peer connection (`iceServers`, `iceTransportPolicy`, …).
   * @default simple-peer's: `{ iceServers: [{ urls: ['stun:stun.l.google.com:19302', 'stun:global.stun.twilio.com:3478'] }] }`
   */
  readonly rtc?: RTCConfiguration
  /**
   * A WebRTC implementation: `{ RTCPeerConnection, RTCSessionDescription, RTCIceCandidate }`. Required where there
   * is no global `RTCPeerConnection` (Node: `@roamhq/wrtc`, or `nodeDatachannelWrtc(polyfill)`).
   * @default the platform's globals
   */
  readonly wrtc?: WrtcImplementation
  /**
   * A dial that has not produced an open connection within this many milliseconds fails with
   * `ConnectionFailedError`; its peer connection is destroyed.
   * @default 15000
   */
  readonly connectTimeoutMs?: number
  /** A ping goes out on the control channel of every connection this often (milliseconds). @default 2000 */
  readonly heartbeatIntervalMs?: number
  /**
   * A connection that received nothing (data, ping or pong) for this many milliseconds is closed with
   * `HeartbeatTimeoutError`. A dead peer is detected within `heartbeatTimeoutMs + heartbeatIntervalMs`.
   * @default 6000
   */
  readonly heartbeatTimeoutMs?: number
  /**
   * How long a graceful close waits for the remote's half of the close handshake (milliseconds), counted from
   * the moment everything queued before `close()` has been handed to the transport; the flush before it is
   * bounded by the heartbeat instead, so a large backlog is delivered rather than cut off. @default 5000
   */
  readonly closeTimeoutMs?: number
  /**
   * Largest payload one `Connection.send` accepts, and the reassembly cap of incoming messages, in bytes.
   * @default 16777216 (16 MiB)
   */
  readonly maxMessageSize?: number
  /**
   * Largest data-channel message (one chunk plus one framing byte), in bytes; capped by the link's
   * `sctp.maxMessageSize`, or 65536 when the implementation does not report one.
   * @default 262144 (256 KiB)
   */
  readonly chunkSize?: number
  /** `send` waits while a data channel has more than this many bytes buffered. @default 1048576 (1 MiB) */
  readonly highWaterMark?: number
  /** A waiting `send` resumes once the data channel's buffer is at or below this many bytes. @default 262144 (256 KiB) */
  readonly lowWaterMark?: number
  /** Data channels (skipmesh channels in use) per connection. @default 256 */
  readonly maxChannels?: number
}

/** Counters of a {@link WebRtcConnectionManager}. */
export interface WebRtcMetrics {
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
  /** Signals sent to the signaling server (batches). */
  signalsSent: number
  /** Signals received from the signaling server. */
  signalsReceived: number
  /** Signals dropped: stale session, malformed, or not allowed from that peer. */
  signalsDropped: number
  /** Malformed control messages or frames from remotes, and oversize incoming messages. */
  protocolErrors: number
  /** Connections closed because the remote went silent. */
  heartbeatTimeouts: number
}

/** Events of a {@link WebRtcConnectionManager}. */
export interface WebRtcConnectionManagerEvents extends ConnectionManagerEvents {
  /** A peer joined the signaling room. */
  'peer:joined': (id: Identifier) => void
  /** A peer left the signaling room. */
  'peer:left': (id: Identifier) => void
}

interface Waiter {
  resolve(connection: WebRtcConnection): void
  reject(err: unknown): void
}

interface Slot {
  readonly remoteId: Identifier
  readonly hex: string
  /** The only peer connection of the pair: an attempt or the open connection. */
  connection: WebRtcConnection | undefined
  /** The shared dial of concurrent `connect` calls. */
  dial: Promise<WebRtcConnection> | undefined
  readonly waiters: Set<Waiter>
}

type Outgoing = { dial: true } | { bye: true } | { batch: SignalData[] }
const MAX_BATCH = 64
/** Fresh attempts after an attempt failed while connecting (within `connectTimeoutMs`). */
const DIAL_RETRIES = 3
/** Pause before the n-th retry: n × this many milliseconds. */
const DIAL_RETRY_DELAY_MS = 50
const ALLOWED_SIGNAL_TYPES = new Set(['offer', 'answer', 'candidate'])

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false
  const proto = Object.getPrototypeOf(x) as unknown
  return proto === Object.prototype || proto === null
}

function randomSession(): string {
  const bytes = new Uint8Array(12)
  globalThis.crypto.getRandomValues(bytes)
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

function option(name: string, value: number | undefined, fallback: number, min: number): number {
  const x = value ?? fallback
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min) {
    throw new InvalidOptionsError(`${name} must be a number >= ${min}, got ${String(x)}`)
  }
  return x
}

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
  /** The manager's signaling client (started and stopped with the manager). */
  readonly signaling: SignalingClient
  readonly #wrtc: WrtcImplementation
  readonly #rtc: RTCConfiguration | undefined
  readonly #connectTimeoutMs: number
  readonly #limits: ConnectionLimits
  readonly #events = new Emitter<WebRtcConnectionManagerEvents>()
  readonly #slots = new Map<string, Slot>()
  readonly #metrics: WebRtcMetrics & ConnectionCounters = {
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
  }
  readonly #outboxes = new Map<
    WebRtcConnection,
    { items: SignalData[]; offerSeen: boolean; scheduled: boolean }
  >()
  readonly #subscriptions: Unsubscribe[] = []
  readonly #opened = new WeakSet<WebRtcConnection>()
  readonly #abandonedByRemote = new WeakSet<WebRtcConnection>()

  /** @throws {InvalidOptionsError} @throws {WebRtcUnavailableError} */
  constructor(options: WebRtcConnectionManagerOptions) {
    super()
    if (!(options.localId instanceof Identifier))
      throw new InvalidOptionsError('localId must be an Identifier')
    if (options.signaling === undefined) throw new InvalidOptionsError('signaling { url, room } is required')
    this.localId = options.localId
    this.#wrtc = resolveWrtc(options.wrtc)
    this.#rtc = options.rtc
    this.#connectTimeoutMs = option('connectTimeoutMs', options.connectTimeoutMs, 15_000, 1)
    const heartbeatIntervalMs = option('heartbeatIntervalMs', options.heartbeatIntervalMs, 2_000, 1)
    const heartbeatTimeoutMs = option('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 6_000, 1)
    if (heartbeatTimeoutMs <= heartbeatIntervalMs) {
      throw new InvalidOptionsError('heartbeatTimeoutMs must be larger than heartbeatIntervalMs')
    }
    const highWaterMark = option('highWaterMark', options.highWaterMark, 1024 * 1024, 1)
    const lowWaterMark = option('lowWaterMark', options.lowWaterMark, 256 * 1024, 0)
    if (lowWaterMark > highWaterMark)
      throw new InvalidOptionsError('lowWaterMark must not exceed highWaterMark')
    this.maxMessageSize = option('maxMessageSize', options.maxMessageSize, 16 * 1024 * 1024, 0)
    this.#limits = {
      maxMessageSize: this.maxMessageSize,
      chunkSize: option('chunkSize', options.chunkSize, 256 * 1024, 2),
      highWaterMark,
      lowWaterMark,
      heartbeatIntervalMs,
      heartbeatTimeoutMs,
      closeTimeoutMs: option('closeTimeoutMs', options.closeTimeoutMs, 5_000, 1),
      maxChannels: option('maxChannels', options.maxChannels, 256, 1),
    }
    this.signaling = new SignalingClient({
      ...options.signaling,
      localId: options.localId,
      keyPair: options.keyPair,
    })
  }

  /** Subscribes to `'connection'`, `'peer:joined'` or `'peer:left'`; returns the function that unsubscribes. */
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
    return { ...rest, peerConnectionsLive, protocolErrors, heartbeatTimeouts }
  }

  /** The open connections. */
  connections(): WebRtcConnection[] {
    const out: WebRtcConnection[] = []
    for (const slot of this.#slots.values()) {
      if (slot.connection?.phase === 'open') out.push(slot.connection)
    }
    return out
  }

  /**
   * Returns the open connection to `id`, dialling if needed; concurrent calls share one dial.
   * @throws {PeerNotFoundError} when `id` is not in the signaling room.
   * @throws {ConnectionFailedError} when no connection opened within `connectTimeoutMs`, the transport failed, or
   * `id` is this peer's own.
   * @throws {AbortError} when `options.signal` aborts (the shared dial goes on for other callers).
   * @throws {ComponentNotStartedError} when the manager is not ready or already stopping.
   */
  async connect(id: Identifier, options: AbortOptions = {}): Promise<WebRtcConnection> {
    if (this.state !== 'ready') throw new ComponentNotStartedError('WebRTC connection manager is not ready')
    if (id.equals(this.localId)) throw new ConnectionFailedError('cannot connect to oneself')
    throwIfAborted(options.signal)
    const slot = this.#slot(id)
    if (slot.connection?.phase === 'open') return slot.connection
    if (slot.dial === undefined) {
      const dial = this.#dial(slot)
      slot.dial = dial
      dial.then(
        () => {
          if (slot.dial === dial) slot.dial = undefined
        },
        () => {
          if (slot.dial === dial) slot.dial = undefined
          this.#metrics.dialsFailed++
        },
      )
    }
    return raceSignal(slot.dial, options.signal)
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    this.#subscriptions.push(
      this.signaling.on('signal', (from, session, data) => this.#onSignal(from, session, data)),
      this.signaling.on('peer:joined', (id) => this.#events.emit('peer:joined', id)),
      this.signaling.on('peer:left', (id) => this.#events.emit('peer:left', id)),
    )
    this.signaling.start(ctx)
    await this.signaling.ready()
  }

  protected async onStop(): Promise<void> {
    const closing: Array<Promise<void>> = []
    for (const slot of this.#slots.values()) {
      for (const w of slot.waiters)
        w.reject(new ComponentNotStartedError('WebRTC connection manager stopped'))
      slot.waiters.clear()
      if (slot.connection !== undefined) closing.push(slot.connection.close())
    }
    await Promise.allSettled(closing)
    for (const off of this.#subscriptions.splice(0)) off()
    await this.signaling.stop()
    this.#slots.clear()
    this.#events.clear()
  }

  // ---- dialling

  #slot(id: Identifier): Slot {
    const hex = id.toHex()
    let slot = this.#slots.get(hex)
    if (slot === undefined) {
      slot = { remoteId: id, hex, connection: undefined, dial: undefined, waiters: new Set() }
      this.#slots.set(hex, slot)
    }
    return slot
  }

  #isInitiatorFor(remote: Identifier): boolean {
    return this.localId.compare(remote) < 0
  }

  async #dial(slot: Slot): Promise<WebRtcConnection> {
    let waiter: Waiter | undefined
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      if (waiter !== undefined) {
        slot.waiters.delete(waiter)
        waiter.reject(
          new ConnectionFailedError(`no connection to ${slot.hex} within ${this.#connectTimeoutMs} ms`),
        )
      }
      const attempt = slot.connection
      if (attempt?.phase === 'connecting') attempt.destroy(new ConnectionFailedError('connect timeout'))
    }, this.#connectTimeoutMs)
    try {
      for (let retry = 0; ; retry++) {
        const opened = new Promise<WebRtcConnection>((resolve, reject) => {
          waiter = { resolve, reject }
        })
        slot.waiters.add(waiter!)
        try {
          const current = slot.connection
          if (current !== undefined && current.phase !== 'connecting') {
            // closing (or an open one the caller raced with): wait for it to go, then dial afresh
            if (current.phase === 'open') return current
            await current.whenClosed()
          }
          if (timedOut)
            throw new ConnectionFailedError(
              `no connection to ${slot.hex} within ${this.#connectTimeoutMs} ms`,
            )
          if (slot.connection === undefined) {
            if (this.#isInitiatorFor(slot.remoteId)) this.#startAttempt(slot, randomSession())
            else await this.#send(slot.remoteId, randomSession(), { dial: true })
          }
          return await opened
        } catch (err) {
          slot.waiters.delete(waiter!)
          waiter = undefined
          // an attempt that failed while connecting (ICE, DTLS or a WebRTC stack error) is retried with a fresh
          // peer connection while time is left; a missing peer, a timeout or a stopping manager is final
          const final =
            timedOut ||
            retry >= DIAL_RETRIES ||
            !(err instanceof ConnectionFailedError) ||
            err instanceof PeerNotFoundError ||
            err instanceof SignalingRejectedError ||
            err instanceof SignalingUnavailableError ||
            this.state !== 'ready'
          if (final) throw err
          // a short, growing pause lets a stack that just failed settle (libdatachannel tears down on a thread)
          await new Promise((resolve) => setTimeout(resolve, DIAL_RETRY_DELAY_MS * (retry + 1)))
          if (timedOut) throw err
        }
      }
    } finally {
      clearTimeout(timer)
    }
  }

  /** Creates the pair's peer connection: as initiator (fresh `session`) or as responder (the remote's). */
  #startAttempt(slot: Slot, session: string): WebRtcConnection {
    const initiator = this.#isInitiatorFor(slot.remoteId)
    const peer = new SimplePeer({
      initiator,
      wrtc: this.#wrtc as unknown as NonNullable<SimplePeer.Options['wrtc']>,
      ...(this.#rtc === undefined ? {} : { config: this.#rtc }),
      // simple-peer's own (in-band) data channel is left unused: skipmesh's control channel is negotiated
      channelName: 'simple-peer',
      trickle: true,
    })
    this.#metrics.peerConnectionsCreated++
    this.#metrics.peerConnectionsLive++
    const connection = new WebRtcConnection({
      localId: this.localId,
      remoteId: slot.remoteId,
      session,
      initiator,
      peer,
      limits: this.#limits,
      counters: this.#metrics,
      onOpen: (c) => this.#onOpen(slot, c),
      onClosed: (c, reason) => this.#onClosed(slot, c, reason),
    })
    slot.connection = connection
    const outbox = { items: [] as SignalData[], offerSeen: false, scheduled: false }
    this.#outboxes.set(connection, outbox)
    peer.on('signal', (data: SimplePeer.SignalData) =>
      this.#queueSignal(slot, connection, data as SignalData),
    )
    // an attempt nobody waits for (a dial request from the remote, an incoming offer) times out too
    const timer = setTimeout(() => {
      if (connection.phase === 'connecting') connection.destroy(new ConnectionFailedError('connect timeout'))
    }, this.#connectTimeoutMs)
    void connection.whenClosed().then(() => clearTimeout(timer))
    return connection
  }

  #onOpen(slot: Slot, connection: WebRtcConnection): void {
    this.#outboxes.delete(connection)
    if (slot.connection !== connection) return void connection.destroy(new TransportClosedError('superseded'))
    this.#opened.add(connection)
    this.#metrics.connectionsOpened++
    this.#metrics.connectionsActive++
    this.#events.emit('connection', connection)
    for (const w of slot.waiters) w.resolve(connection)
    slot.waiters.clear()
  }

  #onClosed(slot: Slot, connection: WebRtcConnection, reason: Error | undefined): void {
    this.#outboxes.delete(connection)
    const wasCurrent = slot.connection === connection
    if (wasCurrent) slot.connection = undefined
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
      for (const w of slot.waiters) w.reject(err)
      slot.waiters.clear()
    }
  }

  // ---- signaling

  #queueSignal(slot: Slot, connection: WebRtcConnection, data: SignalData): void {
    const outbox = this.#outboxes.get(connection)
    if (outbox === undefined || connection.phase === 'closed') return
    if (data.type === 'offer' || data.type === 'answer') {
      // each side's first batch of a session starts with its description: the responder starts a new session
      // only on a batch whose first signal is an offer, and no candidate arrives before the description
      outbox.items.unshift(data)
      outbox.offerSeen = true
    } else {
      outbox.items.push(data)
    }
    if (!outbox.offerSeen || outbox.scheduled) return
    outbox.scheduled = true
    queueMicrotask(() => {
      outbox.scheduled = false
      const items = outbox.items.splice(0)
      for (let i = 0; i < items.length; i += MAX_BATCH) {
        this.#send(slot.remoteId, connection.session, { batch: items.slice(i, i + MAX_BATCH) }).catch(
          (err: unknown) => {
            if (connection.phase !== 'connecting') return
            connection.destroy(
              err instanceof ConnectionFailedError
                ? err
                : new ConnectionFailedError(`signaling to ${slot.hex} failed`, { cause: err }),
            )
          },
        )
      }
    })
  }

  async #send(to: Identifier, session: string, data: Outgoing): Promise<void> {
    this.#metrics.signalsSent++
    await this.signaling.signal(to, session, data as unknown as SignalData)
  }

  #onSignal(from: Identifier, session: string, data: SignalData): void {
    this.#metrics.signalsReceived++
    if (this.state !== 'ready' || from.equals(this.localId)) return void this.#metrics.signalsDropped++
    const slot = this.#slot(from)
    const current = slot.connection
    const weInitiate = this.#isInitiatorFor(from)
    if (data.dial === true) {
      if (!weInitiate) return void this.#metrics.signalsDropped++
      this.#onDialRequest(slot)
      return
    }
    if (data.bye === true) {
      if (current?.session === session && current.phase === 'connecting') {
        this.#abandonedByRemote.add(current)
        current.destroy(new ConnectionFailedError('the remote abandoned the attempt'))
      }
      return
    }
    const batch = data.batch
    if (!Array.isArray(batch) || batch.length === 0 || batch.length > MAX_BATCH) {
      return void this.#metrics.signalsDropped++
    }
    for (const item of batch) {
      if (!isPlainObject(item) || typeof item.type !== 'string' || !ALLOWED_SIGNAL_TYPES.has(item.type)) {
        return void this.#metrics.signalsDropped++
      }
      // the initiator takes answers, the responder takes offers
      if (item.type === (weInitiate ? 'offer' : 'answer')) return void this.#metrics.signalsDropped++
    }
    let target = current?.session === session ? current : undefined
    if (target === undefined) {
      if (weInitiate || (batch[0] as { type?: unknown }).type !== 'offer')
        return void this.#metrics.signalsDropped++
      // a new offer from the initiator supersedes whatever this pair had
      if (current !== undefined) {
        // not a failure of the pair: the dials waiting for it wait for the new session
        slot.connection = undefined
        current.destroy(new TransportClosedError('superseded by a new session'))
      }
      target = this.#startAttempt(slot, session)
    }
    for (const item of batch) target.signal(item as SimplePeer.SignalData)
  }

  #onDialRequest(slot: Slot): void {
    const current = slot.connection
    if (current?.phase === 'connecting') return
    if (current?.phase === 'closing') {
      void current.whenClosed().then(() => {
        if (slot.connection === undefined && this.state === 'ready') this.#startAttempt(slot, randomSession())
      })
      return
    }
    // the remote has no connection to us: an open one here is stale
    if (current?.phase === 'open') current.destroy(new TransportClosedError('the remote dialled again'))
    this.#startAttempt(slot, randomSession())
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
