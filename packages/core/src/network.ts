import type { AbortOptions } from './abort.js'
import type { Channel } from './channel.js'
import type { Identifier } from './identifier.js'
import type { Component } from './lifecycle.js'
import type { Message } from './message.js'
import type { NetworkMetrics } from './metrics.js'

/**
 * Handles every message that arrives on one channel. It handles its own errors: a throw or rejection is
 * caught by the network, counted, and reported to `onProcessorError`; it never affects other channels.
 */
export interface MessageProcessor {
  /** Called once per arriving message, in arrival order per sender and channel. */
  processIncomingMessage(channel: Channel, originId: Identifier, message: Message): void | Promise<void>
}

/** The outcome of one destination of a {@link Conduit.broadcast}. */
export interface SendResult {
  destination: Identifier
  ok: boolean
  /** Present when `ok` is false: one of the {@link ConduitError} subclasses. */
  error?: Error
}

/** The sending half of a registered channel. */
export interface Conduit {
  /** The channel this conduit sends on. */
  readonly channel: Channel
  /**
   * Sends `message` to `destination`: gets or establishes the connection, encodes, sends, counts. Sending to
   * the local identifier delivers to the local processor.
   * @throws {ConnectionFailedError} (or {@link PeerNotFoundError}) when no connection could be established.
   * @throws {SendFailedError} when the connection refused or lost the bytes.
   * @throws {MessageTooLargeError} when the encoded envelope exceeds the transport's maximum.
   * @throws {InvalidMessageError} (a {@link SendFailedError}) when `message` is malformed, e.g. a metadata value
   *   that is not a string.
   * @throws {ConduitClosedError} after `close()` or once the network stopped.
   * @throws {AbortError} when `options.signal` aborts.
   */
  send(destination: Identifier, message: Message, options?: AbortOptions): Promise<void>
  /** Sends to every destination concurrently; one result per destination, in order. Never rejects. */
  broadcast(
    destinations: readonly Identifier[],
    message: Message,
    options?: AbortOptions,
  ): Promise<SendResult[]>
  /** Unregisters the channel's processor; further sends reject with {@link ConduitClosedError}. Idempotent. */
  close(): Promise<void>
}

/** The network layer of a node: one processor per channel, sending through conduits. */
export interface Network extends Component {
  /** This node's identifier. */
  readonly localId: Identifier
  /**
   * Registers the processor of `channel` and returns its conduit.
   * @throws {ProcessorAlreadyRegisteredError} when the channel already has a processor.
   * @throws {ComponentNotStartedError} when the network was stopped.
   */
  register(channel: Channel, processor: MessageProcessor, options?: AbortOptions): Promise<Conduit>
  /** A snapshot of the counters. */
  metrics(): NetworkMetrics
}
