import { type AbortOptions, throwIfAborted } from './abort.js'
import { type Channel, isChannel } from './channel.js'
import { createMsgpackCodec } from './codec.js'
import type { Connection, ConnectionManager } from './connection.js'
import {
  ComponentNotStartedError,
  InvalidChannelError,
  InvalidIdentifierError,
  ProcessorAlreadyRegisteredError,
  SendFailedError,
} from './errors.js'
import type { Unsubscribe } from './events.js'
import type { Identifier } from './identifier.js'
import { checkNumber } from './internal/options.js'
import { AbstractComponent, type ThrowableContext } from './lifecycle.js'
import type { Codec, Message, MessageEnvelope } from './message.js'
import { type ChannelMetrics, emptyChannelMetrics, type NetworkMetrics } from './metrics.js'
import type { Conduit, MessageProcessor, Network } from './network.js'
import { DefaultConduit } from './network/conduit.js'
import { Outbound, type Sender } from './network/outbound.js'
import { DEFAULT_MAX_PENDING_REQUESTS, DEFAULT_REQUEST_TIMEOUT_MS, Requests } from './network/requests.js'

/** Options of {@link createNetwork}. */
export interface DefaultNetworkOptions {
  /** The transport. The network owns it: `start()` starts it, `ready()` waits for it, `stop()` stops it. */
  connectionManager: ConnectionManager
  /**
   * This node's identifier; only a consistency check, since it must equal `connectionManager.localId`.
   * @default connectionManager.localId
   */
  localId?: Identifier
  /** The envelope codec. @default createMsgpackCodec() */
  codec?: Codec
  /**
   * Called (after the error was counted in `processorErrors`) when a processor throws or rejects. An error
   * thrown by the hook itself is ignored.
   * @default a no-op: the error is only counted
   */
  onProcessorError?: (err: unknown, channel: Channel, originId: Identifier) => void
  /** The clock stamped into envelopes, in milliseconds since the epoch. @default Date.now */
  now?: () => number
  /** Timeout of a `Conduit.request` that names none, in milliseconds. @default 10000 */
  requestTimeoutMs?: number
  /**
   * How many requests may wait for their replies at once; one more rejects with
   * `TooManyPendingRequestsError`.
   * @default 8192
   */
  maxPendingRequests?: number
}

interface Registration {
  readonly processor: MessageProcessor
  readonly conduit: DefaultConduit
}

/**
 * The {@link Network} over any {@link ConnectionManager}: encodes envelopes with a {@link Codec}, routes each
 * arriving envelope to the processor of its channel, answers and matches requests, drops and counts what is
 * malformed, spoofed or for an unregistered channel, and isolates processors' failures. Sending is
 * {@link Outbound}'s (the one send path), request/response {@link Requests}'. Make one with
 * {@link createNetwork}.
 */
export class DefaultNetwork extends AbstractComponent implements Network {
  readonly localId: Identifier
  readonly #manager: ConnectionManager
  readonly #codec: Codec
  readonly #onProcessorError: (err: unknown, channel: Channel, originId: Identifier) => void
  readonly #outbound: Outbound
  readonly #requests: Requests
  readonly #registrations = new Map<string, Registration>()
  readonly #channelMetrics = new Map<string, ChannelMetrics>()
  readonly #subscriptions: Unsubscribe[] = []
  readonly #attached = new WeakSet<Connection>()
  /** Open connections by remote id (hex), from the manager's events: spares a `connect()` call per send. */
  readonly #open = new Map<string, Connection>()
  readonly #counters = {
    decodeFailures: 0,
    spoofedEnvelopes: 0,
    droppedUnregistered: 0,
    opened: 0,
    closed: 0,
  }

  /**
   * @throws {InvalidIdentifierError} when `options.localId` differs from the manager's.
   * @throws {InvalidOptionsError} when `requestTimeoutMs` or `maxPendingRequests` is out of range.
   */
  constructor(options: DefaultNetworkOptions) {
    super()
    this.#manager = options.connectionManager
    if (options.localId !== undefined && !options.localId.equals(this.#manager.localId)) {
      throw new InvalidIdentifierError('localId differs from the connection manager’s localId')
    }
    this.localId = this.#manager.localId
    this.#codec = options.codec ?? createMsgpackCodec()
    this.#onProcessorError = options.onProcessorError ?? (() => {})
    this.#outbound = new Outbound({
      manager: this.#manager,
      codec: this.#codec,
      localId: this.localId,
      now: options.now ?? Date.now,
      state: () => this.state,
      ready: () => this.ready(),
      cached: (hex) => this.#open.get(hex),
      loopback: (channel, bytes) => this.#loopback(channel, bytes),
    })
    this.#requests = new Requests({
      outbound: this.#outbound,
      timeoutMs: checkNumber('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, {
        min: 1,
      }),
      maxPending: checkNumber(
        'maxPendingRequests',
        options.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS,
        { min: 1, integer: true },
      ),
      processorFailed: (err, channel, origin) => this.#processorFailed(err, channel, origin),
    })
  }

  /** The connection manager this network owns. */
  get connectionManager(): ConnectionManager {
    return this.#manager
  }

  /** Requests waiting for their replies now (bounded by `maxPendingRequests`). */
  get pendingRequests(): number {
    return this.#requests.waiting
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    this.#subscriptions.push(this.#manager.on('connection', (conn) => this.#attach(conn)))
    this.#manager.start(ctx)
    await this.#manager.ready()
  }

  protected async onStop(): Promise<void> {
    for (const reg of this.#registrations.values()) reg.conduit.markClosed()
    this.#registrations.clear()
    this.#requests.stop()
    try {
      await this.#manager.stop()
    } finally {
      for (const unsubscribe of this.#subscriptions.splice(0)) unsubscribe()
    }
  }

  /**
   * @throws {ProcessorAlreadyRegisteredError} when the channel already has a processor.
   * @throws {InvalidChannelError} when `channel` is not a valid channel name.
   * @throws {ComponentNotStartedError} when the network was stopped.
   * @throws {AbortError} when `options.signal` is already aborted.
   */
  async register(
    channel: Channel,
    processor: MessageProcessor,
    options: AbortOptions = {},
  ): Promise<Conduit> {
    throwIfAborted(options.signal)
    if (this.#isStopped()) throw new ComponentNotStartedError('the network was stopped')
    if (!isChannel(channel)) throw new InvalidChannelError('invalid channel name')
    if (this.#registrations.has(channel)) {
      throw new ProcessorAlreadyRegisteredError(`channel ${channel} already has a processor`)
    }
    const conduit = new DefaultConduit({
      channel,
      metrics: this.#metricsOf(channel),
      outbound: this.#outbound,
      requests: this.#requests,
      networkStopped: () => this.#isStopped(),
      unregister: (c) => {
        if (this.#registrations.get(channel)?.conduit === c) this.#registrations.delete(channel)
      },
    })
    this.#registrations.set(channel, { processor, conduit })
    return conduit
  }

  metrics(): NetworkMetrics {
    const channels: Record<string, ChannelMetrics> = {}
    const total = emptyChannelMetrics()
    for (const [name, m] of this.#channelMetrics) {
      channels[name] = { ...m }
      total.messagesSent += m.messagesSent
      total.bytesSent += m.bytesSent
      total.messagesReceived += m.messagesReceived
      total.bytesReceived += m.bytesReceived
      total.sendFailures += m.sendFailures
      total.processorErrors += m.processorErrors
    }
    const { decodeFailures, spoofedEnvelopes, droppedUnregistered, opened, closed } = this.#counters
    return {
      channels,
      total,
      decodeFailures,
      spoofedEnvelopes,
      droppedUnregistered,
      connections: { opened, closed, active: opened - closed },
      requests: { ...this.#requests.metrics },
    }
  }

  #isStopped(): boolean {
    return this.state === 'stopping' || this.state === 'stopped'
  }

  #metricsOf(channel: string): ChannelMetrics {
    let m = this.#channelMetrics.get(channel)
    if (m === undefined) {
      m = emptyChannelMetrics()
      this.#channelMetrics.set(channel, m)
    }
    return m
  }

  #attach(conn: Connection): void {
    if (this.#attached.has(conn)) return
    this.#attached.add(conn)
    this.#counters.opened++
    const key = conn.remoteId.toHex()
    this.#open.set(key, conn)
    const offMessage = conn.on('message', (channel, bytes) => this.#receive(conn, channel, bytes))
    const offClose = conn.on('close', () => {
      this.#counters.closed++
      if (this.#open.get(key) === conn) this.#open.delete(key)
      offMessage()
      offClose()
    })
  }

  /**
   * The receive path: every check here is against untrusted input, and nothing in it throws. The codec gets
   * the transport channel and the remote id as hints, so that an honest envelope decodes to that very channel
   * string and `Identifier` (no copy, and the comparisons below are identity checks); a codec that ignores
   * the hints is compared by value.
   */
  #receive(conn: Connection, transportChannel: Channel, bytes: Uint8Array): void {
    const remote = conn.remoteId
    const result = this.#codec.decode(bytes, { channel: transportChannel, sender: remote })
    if (!result.ok) {
      this.#counters.decodeFailures++
      return
    }
    const envelope = result.envelope
    if (
      envelope.channel !== transportChannel ||
      (envelope.sender !== remote && !envelope.sender.equals(remote))
    ) {
      this.#counters.spoofedEnvelopes++
      return
    }
    this.#deliver(transportChannel, remote, envelope, bytes.length)
  }

  /** Bytes sent to the local identifier: decoded from a copy (the local processor owns what it gets). */
  #loopback(channel: Channel, bytes: Uint8Array): void {
    const result = this.#codec.decode(bytes.slice(), { channel, sender: this.localId })
    if (!result.ok) throw new SendFailedError(`loopback envelope failed to decode: ${result.reason}`)
    this.#deliver(channel, this.localId, result.envelope, bytes.length)
  }

  /** Hands a checked envelope to its channel's processor or request exchange; `origin` is its sender. */
  #deliver(channel: Channel, origin: Identifier, envelope: MessageEnvelope, size: number): void {
    const reg = this.#registrations.get(channel)
    if (envelope.rpc !== undefined) {
      // counted only on channels with counters already: remote channel names must not grow the map
      const m = this.#channelMetrics.get(channel)
      if (m !== undefined) {
        m.messagesReceived++
        m.bytesReceived += size
      }
      if (reg === undefined && envelope.rpc.kind === 'request') this.#counters.droppedUnregistered++
      this.#requests.receive(envelope, origin, reg?.processor, reg?.conduit ?? this.#replier(channel, m))
      return
    }
    if (reg === undefined) {
      this.#counters.droppedUnregistered++
      return
    }
    const m = reg.conduit.metrics
    m.messagesReceived++
    m.bytesReceived += size
    const message: Message = { payload: envelope.payload, metadata: envelope.metadata }
    try {
      const out = reg.processor.processIncomingMessage(channel, origin, message)
      if (out !== undefined && typeof (out as Promise<void>).then === 'function') {
        ;(out as Promise<void>).then(undefined, (err: unknown) => this.#processorFailed(err, channel, origin))
      }
    } catch (err) {
      this.#processorFailed(err, channel, origin)
    }
  }

  /** Who answers a request on a channel without a registration (to say so). */
  #replier(channel: Channel, metrics: ChannelMetrics | undefined): Sender {
    return { channel, metrics: metrics ?? emptyChannelMetrics(), isClosed: () => this.#isStopped() }
  }

  #processorFailed(err: unknown, channel: Channel, origin: Identifier): void {
    this.#metricsOf(channel).processorErrors++
    try {
      this.#onProcessorError(err, channel, origin)
    } catch {
      // the hook's own failure must not reach the network either
    }
  }
}

/**
 * Makes the default {@link Network} over `options.connectionManager`.
 * @throws {InvalidIdentifierError} when `options.localId` is given and differs from the manager's.
 * @throws {InvalidOptionsError} when `requestTimeoutMs` or `maxPendingRequests` is out of range.
 * @example
 * ```ts
 * const network = createNetwork({ connectionManager: hub.connectionManager(Identifier.random()) })
 * network.start()
 * await network.ready()
 * ```
 */
export function createNetwork(options: DefaultNetworkOptions): DefaultNetwork {
  return new DefaultNetwork(options)
}
