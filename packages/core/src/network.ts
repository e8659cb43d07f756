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
  /**
   * Answers a {@link Conduit.request} from `originId`. Optional: without it, requests to this channel reject
   * at the requester with {@link RemoteRequestError} (`remoteName` `'NoRequestHandler'`). A throw or
   * rejection is counted as a processor error and reaches the requester as a `RemoteRequestError` carrying
   * the error's `name` only (never its message or stack).
   */
  processRequest?(channel: Channel, originId: Identifier, message: Message): Message | Promise<Message>
}

/** Options of {@link Conduit.request}. */
export interface RequestOptions extends AbortOptions {
  /**
   * Milliseconds to wait for the reply.
   * @default the network's `requestTimeoutMs` (10000 for {@link createNetwork})
   */
  timeoutMs?: number
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
  /**
   * Sends `message` as a request to `destination` and resolves with the reply of its processor's
   * `processRequest` on this channel. The reply is matched by an unpredictable nonce and accepted only from
   * `destination`; a reply that comes after the timeout is counted (`requests.lateReplies`) and dropped.
   * @throws the errors of {@link Conduit.send}, when the request could not be sent.
   * @throws {RemoteRequestError} when the remote has no processor or `processRequest` for the channel, or it
   *   threw; `remoteName` is the remote error's name.
   * @throws {RequestTimeoutError} when no reply came within `options.timeoutMs`.
   * @throws {TooManyPendingRequestsError} when too many requests are waiting for replies.
   * @throws {InvalidOptionsError} when `options.timeoutMs` is not a positive number.
   * @throws {AbortError} when `options.signal` aborts.
   */
  request(destination: Identifier, message: Message, options?: RequestOptions): Promise<Message>
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
