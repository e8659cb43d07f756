import { type AbortOptions, raceSignal, throwIfAborted } from './abort.js'
import { type Channel, isChannel } from './channel.js'
import { createMsgpackCodec } from './codec.js'
import type { Connection, ConnectionManager } from './connection.js'
import {
  ConduitClosedError,
  ConduitError,
  ComponentNotStartedError,
  ConnectionFailedError,
  InvalidChannelError,
  InvalidIdentifierError,
  InvalidMessageError,
  MessageTooLargeError,
  ProcessorAlreadyRegisteredError,
  SendFailedError,
} from './errors.js'
import type { Unsubscribe } from './events.js'
import type { Identifier } from './identifier.js'
import { isForbiddenKey } from './internal/keys.js'
import { AbstractComponent, type ThrowableContext } from './lifecycle.js'
import type { Codec, Message, MessageEnvelope } from './message.js'
import { type ChannelMetrics, emptyChannelMetrics, type NetworkMetrics } from './metrics.js'
import type { Conduit, MessageProcessor, Network, SendResult } from './network.js'

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
}

interface Registration {
  readonly processor: MessageProcessor
  readonly conduit: DefaultConduit
  readonly metrics: ChannelMetrics
}

/**
 * The {@link Network} over any {@link ConnectionManager}: encodes envelopes with a {@link Codec}, routes each
 * arriving envelope to the processor of its channel, drops and counts what is malformed, spoofed or for an
 * unregistered channel, and isolates processors' failures. Make one with {@link createNetwork}.
 */
export class DefaultNetwork extends AbstractComponent implements Network {
  readonly localId: Identifier
  readonly #manager: ConnectionManager
  readonly #codec: Codec
  readonly #onProcessorError: (err: unknown, channel: Channel, originId: Identifier) => void
  readonly #now: () => number
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

  constructor(options: DefaultNetworkOptions) {
    super()
    this.#manager = options.connectionManager
    if (options.localId !== undefined && !options.localId.equals(this.#manager.localId)) {
      throw new InvalidIdentifierError('localId differs from the connection manager’s localId')
    }
    this.localId = this.#manager.localId
    this.#codec = options.codec ?? createMsgpackCodec()
    this.#onProcessorError = options.onProcessorError ?? (() => {})
    this.#now = options.now ?? Date.now
  }

  /** The connection manager this network owns. */
  get connectionManager(): ConnectionManager {
    return this.#manager
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    this.#subscriptions.push(this.#manager.on('connection', (conn) => this.#attach(conn)))
    this.#manager.start(ctx)
    await this.#manager.ready()
  }

  protected async onStop(): Promise<void> {
    for (const reg of this.#registrations.values()) reg.conduit.markClosed()
    this.#registrations.clear()
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
    const metrics = this.#metricsOf(channel)
    const conduit: DefaultConduit = new DefaultConduit(channel, metrics, {
      send: (dest, message, opts) => this.#sendOne(conduit, dest, message, opts),
      broadcast: (dests, message, opts) => this.#broadcast(conduit, dests, message, opts),
      unregister: () => {
        if (this.#registrations.get(channel)?.conduit === conduit) this.#registrations.delete(channel)
      },
    })
    this.#registrations.set(channel, { processor, conduit, metrics })
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

  /** Hands a checked envelope to its channel's processor; `origin` equals `envelope.sender`. */
  #deliver(channel: Channel, origin: Identifier, envelope: MessageEnvelope, size: number): void {
    const reg = this.#registrations.get(channel)
    if (reg === undefined) {
      this.#counters.droppedUnregistered++
      return
    }
    const m = reg.metrics
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

  #processorFailed(err: unknown, channel: Channel, origin: Identifier): void {
    this.#metricsOf(channel).processorErrors++
    try {
      this.#onProcessorError(err, channel, origin)
    } catch {
      // the hook's own failure must not reach the network either
    }
  }

  #encode(conduit: DefaultConduit, message: Message): Uint8Array {
    checkMessage(message)
    const envelope: MessageEnvelope = {
      channel: conduit.channel,
      sender: this.localId,
      payload: message.payload,
      metadata: message.metadata,
      timestamp: this.#now(),
    }
    let bytes: Uint8Array
    try {
      bytes = this.#codec.encode(envelope)
    } catch (err) {
      throw new SendFailedError('the message could not be encoded', { cause: err })
    }
    const limit = Math.min(
      this.#manager.maxMessageSize,
      this.#codec.maxEnvelopeSize ?? Number.POSITIVE_INFINITY,
    )
    if (bytes.length > limit) {
      throw new MessageTooLargeError(
        `encoded envelope of ${bytes.length} bytes exceeds the maximum of ${limit}`,
      )
    }
    return bytes
  }

  /**
   * One send. Never throws synchronously (every failure is a rejection). The common case, no signal and an open
   * cached connection to a remote peer, adds exactly one promise to the transport's.
   */
  #sendOne(
    conduit: DefaultConduit,
    dest: Identifier,
    message: Message,
    options: AbortOptions | undefined,
  ): Promise<void> {
    const metrics = conduit.metrics
    let bytes: Uint8Array
    try {
      bytes = this.#prepare(conduit, message, options)
      if (options?.signal === undefined && this.state === 'ready') {
        const conn = this.#open.get(dest.toHex())
        if (conn !== undefined && conn.status === 'open') {
          const size = bytes.length
          return conn.send(conduit.channel, bytes).then(
            () => {
              metrics.messagesSent++
              metrics.bytesSent += size
            },
            (err: unknown) => {
              metrics.sendFailures++
              throw sendError(err, dest)
            },
          )
        }
      }
    } catch (err) {
      metrics.sendFailures++
      return Promise.reject(
        err instanceof ConduitError
          ? err
          : new SendFailedError('the message could not be sent', { cause: err }),
      )
    }
    return this.#sendSlow(conduit, dest, bytes, options ?? {}, metrics)
  }

  /** The general send: waits for readiness, loops back, connects, honours the signal. */
  async #sendSlow(
    conduit: DefaultConduit,
    dest: Identifier,
    bytes: Uint8Array,
    options: AbortOptions,
    metrics: ChannelMetrics,
  ): Promise<void> {
    try {
      await this.#sendBytes(conduit, dest, bytes, options)
      metrics.messagesSent++
      metrics.bytesSent += bytes.length
    } catch (err) {
      metrics.sendFailures++
      throw err
    }
  }

  /** Encodes once, sends concurrently, one result per destination; never rejects. */
  async #broadcast(
    conduit: DefaultConduit,
    dests: readonly Identifier[],
    message: Message,
    options: AbortOptions,
  ): Promise<SendResult[]> {
    const metrics = conduit.metrics
    let bytes: Uint8Array
    try {
      bytes = this.#prepare(conduit, message, options)
    } catch (err) {
      metrics.sendFailures += dests.length
      const error = err instanceof Error ? err : new SendFailedError(String(err))
      return dests.map((destination) => ({ destination, ok: false, error }))
    }
    return Promise.all(
      dests.map(async (destination): Promise<SendResult> => {
        try {
          await this.#sendBytes(conduit, destination, bytes, options)
          metrics.messagesSent++
          metrics.bytesSent += bytes.length
          return { destination, ok: true }
        } catch (err) {
          metrics.sendFailures++
          return {
            destination,
            ok: false,
            error: err instanceof Error ? err : new SendFailedError(String(err)),
          }
        }
      }),
    )
  }

  #prepare(conduit: DefaultConduit, message: Message, options: AbortOptions | undefined): Uint8Array {
    throwIfAborted(options?.signal)
    this.#checkOpen(conduit)
    return this.#encode(conduit, message)
  }

  #checkOpen(conduit: DefaultConduit): void {
    if (conduit.closed || this.#isStopped()) {
      throw new ConduitClosedError(`the conduit of ${conduit.channel} is closed`)
    }
  }

  async #sendBytes(
    conduit: DefaultConduit,
    dest: Identifier,
    bytes: Uint8Array,
    options: AbortOptions,
  ): Promise<void> {
    const signal = options.signal
    if (this.state === 'starting') {
      try {
        await raceSignal(this.ready(), signal)
      } catch (err) {
        if (err instanceof ConduitError) throw err
        throw new ConduitClosedError('the network stopped before it was ready', { cause: err })
      }
    }
    this.#checkOpen(conduit)
    if (this.state !== 'ready') {
      throw new ConnectionFailedError('the network is not started', {
        cause: new ComponentNotStartedError('not started'),
      })
    }
    if (dest.equals(this.localId)) {
      // loopback: through the decoder too, from a copy (the decoded payload is a view of it, and `bytes` may
      // also be on its way to other peers of a broadcast), so the local processor owns what it gets
      await Promise.resolve()
      this.#checkOpen(conduit)
      const result = this.#codec.decode(bytes.slice(), { channel: conduit.channel, sender: this.localId })
      if (!result.ok) throw new SendFailedError(`loopback envelope failed to decode: ${result.reason}`)
      this.#deliver(conduit.channel, this.localId, result.envelope, bytes.length)
      return
    }
    let conn = this.#open.get(dest.toHex())
    if (conn === undefined || conn.status !== 'open') {
      conn = await this.#connect(dest, signal)
    }
    this.#checkOpen(conduit)
    try {
      await raceSignal(
        signal === undefined
          ? conn.send(conduit.channel, bytes)
          : conn.send(conduit.channel, bytes, { signal }),
        signal,
      )
    } catch (err) {
      throw sendError(err, dest)
    }
  }

  async #connect(dest: Identifier, signal: AbortSignal | undefined): Promise<Connection> {
    try {
      return await raceSignal(this.#manager.connect(dest, signal === undefined ? {} : { signal }), signal)
    } catch (err) {
      if (err instanceof ConduitError) throw err
      if (this.#isStopped()) throw new ConduitClosedError('the network stopped', { cause: err })
      throw new ConnectionFailedError(`could not connect to ${dest.toHex()}`, { cause: err })
    }
  }
}

/** A transport's send failure as the conduit reports it: `ConduitError`s as they are, others wrapped. */
function sendError(err: unknown, dest: Identifier): ConduitError {
  if (err instanceof ConduitError) return err
  return new SendFailedError(`could not send to ${dest.toHex()}`, { cause: err })
}

/** Rejects locally what every receiving codec would reject, so the sender learns of it. */
function checkMessage(message: Message): void {
  if (typeof message !== 'object' || message === null)
    throw new InvalidMessageError('message must be an object')
  if (!(message.payload instanceof Uint8Array)) throw new InvalidMessageError('payload must be a Uint8Array')
  const metadata: unknown = message.metadata
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new InvalidMessageError('metadata must be an object of strings')
  }
  for (const k in metadata) {
    if (!Object.hasOwn(metadata, k)) continue
    if (isForbiddenKey(k)) throw new InvalidMessageError(`metadata key ${k} is not allowed`)
    if (typeof (metadata as Record<string, unknown>)[k] !== 'string')
      throw new InvalidMessageError(`metadata value of ${k.slice(0, 32)} is not a string`)
  }
}

interface ConduitPort {
  /** Never throws: every failure is a rejection. */
  send(dest: Identifier, message: Message, options: AbortOptions | undefined): Promise<void>
  broadcast(dests: readonly Identifier[], message: Message, options: AbortOptions): Promise<SendResult[]>
  unregister(): void
}

/** The conduit of one registered channel of a {@link DefaultNetwork}. */
class DefaultConduit implements Conduit {
  readonly channel: Channel
  /** The channel's counters (the network's own object). */
  readonly metrics: ChannelMetrics
  readonly #port: ConduitPort
  #closed = false

  constructor(channel: Channel, metrics: ChannelMetrics, port: ConduitPort) {
    this.channel = channel
    this.metrics = metrics
    this.#port = port
  }

  get closed(): boolean {
    return this.#closed
  }

  send(destination: Identifier, message: Message, options?: AbortOptions): Promise<void> {
    return this.#port.send(destination, message, options)
  }

  async broadcast(
    destinations: readonly Identifier[],
    message: Message,
    options: AbortOptions = {},
  ): Promise<SendResult[]> {
    return this.#port.broadcast([...destinations], message, options)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#port.unregister()
  }

  /** Called by the network when it stops. */
  markClosed(): void {
    this.#closed = true
  }
}

/**
 * Makes the default {@link Network} over `options.connectionManager`.
 * @throws {InvalidIdentifierError} when `options.localId` is given and differs from the manager's.
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
